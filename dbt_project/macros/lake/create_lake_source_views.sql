{#-
    On DuckDB, one view per lake source in the warehouse (`crm.contacts`, `web.events`, …),
    named like the source: a live view over the stream's Parquet files, or an empty view with the
    columns the sources YAML declares (the landing contract) while nothing has landed yet.
    Models read the lake directly (`external_location`); the views are for people and tools that
    query the warehouse, and they give dbt's unit tests a relation to take the sources' column
    types from, with or without a lake. Runs at the start of every dbt invocation (on-run-start).
    On PostgreSQL the sources are tables the loader creates, so there is nothing to do.
-#}
{% macro create_lake_source_views() %}
    {{ return(adapter.dispatch('create_lake_source_views', 'tessera')()) }}
{% endmacro %}

{% macro default__create_lake_source_views() %}
    select 1
{% endmacro %}

{% macro postgres__create_lake_source_views() %}
    {{ return(tessera.default__create_lake_source_views()) }}
{% endmacro %}

{% macro duckdb__create_lake_source_views() %}
    {%- set statements = [] -%}
    {%- if execute -%}
        {%- for node in graph.sources.values() if node.package_name == project_name -%}
            {%- set location = source(node.source_name, node.name) | string -%}
            {%- set path = modules.re.search("read_parquet\('([^']+)'", location) -%}
            {%- set landed = path is not none and run_query(
                "select count(*) from glob('" ~ path.group(1) ~ "')"
            ).columns[0].values()[0] > 0 -%}
            {%- if landed -%}
                {%- set body = 'select * from ' ~ location -%}
            {%- else -%}
                {%- set columns = [] -%}
                {%- for column in node.columns.values() -%}
                    {%- do columns.append(
                        'cast(null as ' ~ (column.data_type or 'varchar') ~ ') as ' ~ adapter.quote(column.name)
                    ) -%}
                {%- endfor -%}
                {%- set body = 'select ' ~ (columns | join(', ')) ~ ' where false' -%}
            {%- endif -%}
            {%- do statements.append('create schema if not exists ' ~ adapter.quote(node.schema)) -%}
            {%- do statements.append(
                'create or replace view ' ~ adapter.quote(node.schema) ~ '.' ~ adapter.quote(node.identifier) ~ ' as ' ~ body
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ statements | join(';\n') if statements else 'select 1' }}
{% endmacro %}
