{#-
    Incremental staging: a run reads only the batches landed since the previous run and upserts
    their records (`delete+insert` on the model's key), so a daily run costs a day of data.

    `landed_since_last_run()` filters a source to rows of batches that became visible after the newest
    `_visible_at` already in the model. A batch becomes visible when its checks pass or an operator
    releases it (docs/landing-contract.md), and every row carries that time from the lake's source view:
    a re-run batch is checked again, and a held batch released days later is newer than anything read,
    so both are read even though their `_extracted_at` may be older. On a first run or `--full-refresh`
    it filters nothing; on an empty model it reads everything.

    `keep_newer_than_current(relation, key, version_column)` drops a newly landed version that is
    older than the one the model holds (a late copy of an old version), so the model keeps exactly
    the version `latest_versions` would pick over the whole lake: the newest by the record's own
    timestamp; on a tie the later extraction, which is the new row.

    On Spark, staging is `insert_overwrite` partitioned by `_batch_id` (parquet tables cannot delete rows), so
    an incremental run has to write whole batch partitions: `spark__keep_newer_than_current` adds to the new
    rows every current row of each partition that loses a row to them, minus the rows they replace. A
    partition that keeps no row is not rewritten, and `drop_superseded_partitions` (a post-hook of every
    staging model) drops it. The table then holds what delete+insert by the key gives on DuckDB and
    PostgreSQL (docs/warehouse-engines.md#spark).
-#}
{% macro landed_since_last_run() -%}
    {%- if is_incremental() -%}
        where _visible_at > (
            select coalesce(max(_visible_at), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }}
        )
    {%- endif -%}
{%- endmacro %}

{% macro keep_newer_than_current(relation, key, version_column) %}
    {{- return(adapter.dispatch('keep_newer_than_current', 'tessera')(relation, key, version_column)) -}}
{% endmacro %}

{% macro default__keep_newer_than_current(relation, key, version_column) %}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where not exists (
        select 1
        from {{ this }} as current_rows
        where current_rows.{{ key }} = {{ relation }}.{{ key }}
            and current_rows.{{ version_column }} is not null
            and (
                {{ relation }}.{{ version_column }} is null
                or current_rows.{{ version_column }} > {{ relation }}.{{ version_column }}
            )
    )
    {%- endif %}
{% endmacro %}

{% macro spark__keep_newer_than_current(relation, key, version_column) %}
    {%- if not is_incremental() -%}
        {{ tessera.default__keep_newer_than_current(relation, key, version_column) }}
    {%- else -%}
        {{ tessera.spark_rewrite_batch_partitions(
            tessera.default__keep_newer_than_current(relation, key, version_column), key
        ) }}
    {%- endif -%}
{% endmacro %}

{#-
    `replace_by_key(relation, key)`: the final select of an incremental model whose new rows replace the
    current rows with the same key (delete+insert): `select * from relation`, except on Spark, where the
    partitions those rows leave are rewritten too (`spark_rewrite_batch_partitions`).
-#}
{% macro replace_by_key(relation, key) %}
    {{- return(adapter.dispatch('replace_by_key', 'tessera')(relation, key)) -}}
{% endmacro %}

{% macro default__replace_by_key(relation, key) %}
    select * from {{ relation }}
{% endmacro %}

{% macro spark__replace_by_key(relation, key) %}
    {%- if not is_incremental() -%}
        select * from {{ relation }}
    {%- else -%}
        {{ tessera.spark_rewrite_batch_partitions('select * from ' ~ relation, key) }}
    {%- endif -%}
{% endmacro %}

{#- The new rows (`newer`, a select), plus the current rows of every partition that loses a row to them. -#}
{% macro spark_rewrite_batch_partitions(newer, key) %}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='quoted') | join(', ') -%}
    select {{ columns }} from ({{ newer }}) as newer_rows
    union all
    select {{ columns }} from {{ this }} as current_rows
    where current_rows._batch_id in (
        select replaced._batch_id
        from {{ this }} as replaced
        inner join ({{ newer }}) as newer_rows on newer_rows.{{ key }} = replaced.{{ key }}
    )
    and not exists (
        select 1 from ({{ newer }}) as newer_rows where newer_rows.{{ key }} = current_rows.{{ key }}
    )
{% endmacro %}
