{#-
    The ISO-2 country of a public IP address, from geoip2fast's bundled table; NULL for private or malformed addresses.
    DuckDB and Spark call `tessera_ip_country`, registered by transforms/enrichment/duckdb_functions.py and spark_functions.py (transforms/enrichment/web_events.py).
    Other engines (PostgreSQL) would need Python inside the database server, so there it is NULL:
    the enriched column exists on every engine and is filled where the engine can fill it.
-#}
{% macro ip_country(ip) -%}
    {{ return(adapter.dispatch('ip_country', 'tessera')(ip)) }}
{%- endmacro %}

{% macro duckdb__ip_country(ip) -%}
    tessera_ip_country({{ ip }})
{%- endmacro %}

{% macro default__ip_country(ip) -%}
    cast(null as {{ dbt.type_string() }})
{%- endmacro %}

{% macro postgres__ip_country(ip) -%}
    {{ tessera.default__ip_country(ip) }}
{%- endmacro %}

{#- Spark registers the same Python function as DuckDB (transforms/enrichment/spark_functions.py). -#}
{% macro spark__ip_country(ip) -%}
    {{ tessera.duckdb__ip_country(ip) }}
{%- endmacro %}
