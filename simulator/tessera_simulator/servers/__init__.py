"""HTTP stand-ins for the CRM and the email platform, with fault injection."""

from tessera_simulator.servers.crm_api import crm_app
from tessera_simulator.servers.esp_api import esp_app
from tessera_simulator.servers.runner import ServerUrls, run_servers

__all__ = ["ServerUrls", "crm_app", "esp_app", "run_servers"]
