"""The dbt-duckdb plugin puts the Python normalisers and enrichers into DuckDB SQL."""

from __future__ import annotations

import duckdb
import pytest

from transforms.enrichment.duckdb_functions import FUNCTIONS, Plugin, register_functions

pytestmark = pytest.mark.unit


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_the_plugin_registers_every_function_once_per_connection(con):
    plugin = Plugin(name="duckdb_functions", plugin_config={})
    plugin.configure_connection(con)
    register_functions(con)  # a second registration is a no-op, not an error
    names = {row[0] for row in con.execute("select distinct function_name from duckdb_functions()").fetchall()}
    assert {f.name for f in FUNCTIONS} <= names


def test_functions_work_in_sql_on_whole_columns(con):
    register_functions(con)
    rows = con.execute(
        """
        select
            tessera_phone_e164(phone, region) as e164,
            tessera_phone_region(tessera_phone_e164(phone, region)) as phone_region,
            tessera_ua_device_type(agent) as device,
            tessera_ip_country(ip) as ip_country
        from (values
            ('(212) 555-0123', 'US', 'Mozilla/5.0 (compatible; Googlebot/2.1)', '8.8.8.8'),
            ('+44 (0)7400 123456', null, null, '10.0.0.1'),
            (null, 'GB', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0', null),
            ('n/a', 'US', '', 'nonsense')
        ) as t(phone, region, agent, ip)
        """
    ).fetchall()
    assert rows == [
        ("+12125550123", "US", "bot", "US"),
        ("+447400123456", "GB", None, None),
        (None, None, "desktop", None),
        (None, None, None, None),
    ]


def test_functions_scale_to_many_rows(con):
    register_functions(con)
    (distinct, readable) = con.execute(
        """
        select count(distinct e164), count(e164)
        from (
            select tessera_phone_e164('(212) 555-' || lpad(cast(i % 100 as varchar), 4, '0'), 'US') as e164
            from range(50000) as r(i)
        )
        """
    ).fetchone()
    assert (distinct, readable) == (100, 50000)
