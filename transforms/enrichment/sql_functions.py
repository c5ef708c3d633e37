"""The `tessera_*` SQL functions the dbt macros call, one list for every engine that registers them.

`duckdb_functions.py` registers them on each DuckDB connection dbt opens, `spark_functions.py` on the Spark
session Tessera's dbt runs in. Each is a vectorised Python function (Arrow strings in, Arrow strings out) from
`phone_numbers` or `web_events`, so an engine that registers them computes the same values as the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transforms.enrichment import phone_numbers, web_events


@dataclass(frozen=True)
class SqlFunction:
    name: str
    fn: Callable
    arity: int


FUNCTIONS = (
    SqlFunction("tessera_phone_e164", phone_numbers.to_e164_array, 2),
    SqlFunction("tessera_phone_region", phone_numbers.region_of_array, 1),
    SqlFunction("tessera_ua_device_type", web_events.device_type_array, 1),
    SqlFunction("tessera_ua_browser_family", web_events.browser_family_array, 1),
    SqlFunction("tessera_ua_os_family", web_events.os_family_array, 1),
    SqlFunction("tessera_ip_country", web_events.ip_country_array, 1),
)
