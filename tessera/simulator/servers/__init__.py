"""HTTP stand-ins for the CRM and the email platform, with fault injection."""

from tessera.simulator.servers.crm_api import crm_app
from tessera.simulator.servers.esp_api import esp_app
from tessera.simulator.servers.runner import ServerUrls, run_servers

__all__ = ["ServerUrls", "crm_app", "esp_app", "run_servers"]
