"""No usage data leaves the machine: Cosmos, dbt and Great Expectations are told not to send any.

`turn_off_telemetry()` runs when the modules the DAG files import are imported (`tessera.orchestration`), in
every process that parses or runs a Tessera DAG, and in the embedded default's environment
(`tessera.airflow_local`), before Cosmos, dbt or GX read these settings. Processes that import no Tessera code
(a deployment's scheduler and api-server, where Cosmos's DAG-run listener and dbt-docs page run) need the same
variables in their environment: `docs/deploy.md` lists them.

Airflow 3 itself collects no usage data: the `[usage_data_collection]` section of Airflow 2.10 is gone from its
configuration, and metrics (StatsD, OpenTelemetry) are off unless a deployment turns them on for itself.
"""

from __future__ import annotations

import os
import sys

#: Each tool's switch. Cosmos also honours the `DO_NOT_TRACK` and `SCARF_NO_ANALYTICS` conventions, and dbt
#: `DO_NOT_TRACK`; they are set too, so a tool that reads only the convention stays quiet as well.
TELEMETRY_OFF: dict[str, str] = {
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "GX_ANALYTICS_ENABLED": "False",
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
}


def turn_off_telemetry() -> None:
    """Set every switch in this process's environment, and in Cosmos's settings when Cosmos has already read
    them (Airflow loads Cosmos's plugin, and with it its settings, before it parses a DAG file)."""
    os.environ.update(TELEMETRY_OFF)
    cosmos_settings = sys.modules.get("cosmos.settings")
    if cosmos_settings is not None:
        cosmos_settings.enable_telemetry = False
        cosmos_settings.do_not_track = True
        cosmos_settings.no_analytics = True
