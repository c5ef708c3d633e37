{#-
    The materialization of a model that upserts or deletes rows by key (`delete+insert`, delete hooks):
    `incremental` where the warehouse deletes rows (DuckDB, PostgreSQL); on Spark, whose parquet tables have
    no DELETE or MERGE, a `table` rebuilt from staging on every run (docs/warehouse-engines.md#spark). Hooks
    and filters that serve the incremental path test `is_incremental()`, which is false there.
-#}
{% macro incremental_by_key() -%}
    {{- return('table' if target.type == 'spark' else 'incremental') -}}
{%- endmacro %}

{#- A hook statement that only an incremental run needs (`select 1`, a statement that does nothing, otherwise). -#}
{% macro on_incremental_run(statement) -%}
    {{- statement if is_incremental() else 'select 1' -}}
{%- endmacro %}
