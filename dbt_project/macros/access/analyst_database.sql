{#-
    DuckDB has no roles: whoever opens a file reads all of it. So analysts get a file of their own, holding
    only the analyst schema's rows as tables (docs/access-control.md):

        dbt run-operation write_analyst_database --args "{path: /srv/warehouse_analyst.duckdb}"

    Views cannot be copied: a view keeps its query, which names the marts the file does not have. The file is
    written in place, so analysts should read a copy an operator moves into place once the operation succeeds.
-#}
{% macro write_analyst_database(path) -%}
    {%- if target.type != 'duckdb' -%}
        {%- do exceptions.raise_compiler_error(
            "write_analyst_database is for DuckDB; on " ~ target.type ~ " give analysts the analyst role instead"
        ) -%}
    {%- endif -%}
    {%- set views = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('config.schema', 'equalto', analyst_schema()) | sort(attribute='name') | list -%}
    {%- set statements = [
        "attach '" ~ path | replace("'", "''") ~ "' as analyst_file",
        "create schema if not exists analyst_file." ~ analyst_schema(),
    ] -%}
    {%- for view in views -%}
        {%- do statements.append(
            "create or replace table analyst_file." ~ analyst_schema() ~ "." ~ view.alias
            ~ " as select * from " ~ adapter.quote(view.database) ~ "." ~ analyst_schema() ~ "." ~ view.alias
        ) -%}
    {%- endfor -%}
    {%- do statements.append("detach analyst_file") -%}
    {%- for statement in statements -%}
        {%- do run_query(statement) -%}
    {%- endfor -%}
    {{ log("analyst database: " ~ views | length ~ " tables written", info=true) }}
{%- endmacro %}
