{#-
    The browser family of a user agent (`Chrome`, `Mobile Safari`, `Firefox`), from ua-parser's bundled rules.
    DuckDB and Spark call `tessera_ua_browser_family`, registered by transforms/enrichment/duckdb_functions.py and spark_functions.py (transforms/enrichment/web_events.py).
    Other engines (PostgreSQL) would need Python inside the database server, so there it is NULL:
    the enriched column exists on every engine and is filled where the engine can fill it.
-#}
{% macro user_agent_browser_family(user_agent) -%}
    {{ return(adapter.dispatch('user_agent_browser_family', 'tessera')(user_agent)) }}
{%- endmacro %}

{% macro duckdb__user_agent_browser_family(user_agent) -%}
    tessera_ua_browser_family({{ user_agent }})
{%- endmacro %}

{% macro default__user_agent_browser_family(user_agent) -%}
    cast(null as {{ dbt.type_string() }})
{%- endmacro %}

{% macro postgres__user_agent_browser_family(user_agent) -%}
    {{ tessera.default__user_agent_browser_family(user_agent) }}
{%- endmacro %}

{#- Spark registers the same Python function as DuckDB (transforms/enrichment/spark_functions.py). -#}
{% macro spark__user_agent_browser_family(user_agent) -%}
    {{ tessera.duckdb__user_agent_browser_family(user_agent) }}
{%- endmacro %}
