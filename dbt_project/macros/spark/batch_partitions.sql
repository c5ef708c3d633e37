{#-
    Staging on Spark is a parquet table partitioned by `_batch_id`, written with `insert_overwrite`
    (macros/staging/incremental_batches.sql). Parquet tables have no DELETE, so rows leave by partition.

    `drop_superseded_partitions()`, a post-hook of every staging model: a batch partition all of whose rows a
    run replaced was not rewritten (the run wrote no row into it), so it still holds the old versions. Its
    rows are the ones whose key also has a row that became visible later; such a partition is dropped. A
    partition holding a superseded row beside rows that are not is a bug in the run and fails the model
    rather than losing those rows. Elsewhere it does nothing.

    `delete_rows(relation, condition)`: `delete from relation where condition` on DuckDB and PostgreSQL; on
    Spark each partition holding such rows is rewritten without them, or dropped when none is left.
-#}
{% macro drop_superseded_partitions() %}
    {{- return(adapter.dispatch('drop_superseded_partitions', 'tessera')()) -}}
{% endmacro %}

{% macro default__drop_superseded_partitions() %}
    select 1
{% endmacro %}

{% macro spark__drop_superseded_partitions() %}
    {%- if execute -%}
        {%- set key = config.get('unique_key') -%}
        {%- set found = run_query(
            'select _batch_id, count(*) as row_count, count_if(superseded) as superseded_count from ('
            ~ ' select _batch_id, _visible_at < max(_visible_at) over (partition by ' ~ key ~ ') as superseded'
            ~ ' from ' ~ this ~ ') as versions'
            ~ ' group by _batch_id having count_if(superseded) > 0 order by _batch_id'
        ) -%}
        {%- for batch_id, row_count, superseded_count in found.rows -%}
            {%- if superseded_count != row_count -%}
                {{ exceptions.raise_compiler_error(
                    this ~ ": batch partition " ~ batch_id ~ " holds " ~ superseded_count ~ " superseded rows beside "
                    ~ (row_count - superseded_count) ~ " current ones; rebuild it with `tessera transform --full-refresh`"
                ) }}
            {%- endif -%}
            {%- do run_query(
                'alter table ' ~ this ~ ' drop if exists partition (_batch_id = ' ~ tessera.sql_string_literal(batch_id) ~ ')'
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{% endmacro %}

{% macro delete_rows(relation, condition) %}
    {{- return(adapter.dispatch('delete_rows', 'tessera')(relation, condition)) -}}
{% endmacro %}

{% macro default__delete_rows(relation, condition) %}
    delete from {{ relation }} where {{ condition }}
{% endmacro %}

{% macro spark__delete_rows(relation, condition) %}
    {%- if execute -%}
        {%- set found = run_query(
            'select _batch_id, count(*) as row_count, count_if(' ~ condition ~ ') as deleted_count from ' ~ relation
            ~ ' group by _batch_id having count_if(' ~ condition ~ ') > 0 order by _batch_id'
        ) -%}
        {%- set rewritten = [] -%}
        {%- for batch_id, row_count, deleted_count in found.rows -%}
            {%- if deleted_count == row_count -%}
                {%- do run_query(
                    'alter table ' ~ relation ~ ' drop if exists partition (_batch_id = ' ~ tessera.sql_string_literal(batch_id) ~ ')'
                ) -%}
            {%- else -%}
                {%- do rewritten.append(tessera.sql_string_literal(batch_id)) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if rewritten -%}
            {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='quoted') | join(', ') -%}
            {%- set kept = relation.identifier ~ '__kept_rows' -%}
            {#- Cached first: Spark will not overwrite partitions of the table the same statement reads. -#}
            {%- do run_query(
                'cache table ' ~ kept ~ ' as select ' ~ columns ~ ' from ' ~ relation
                ~ ' where _batch_id in (' ~ (rewritten | join(', ')) ~ ') and not coalesce(' ~ condition ~ ', false)'
            ) -%}
            {%- do run_query('set spark.sql.sources.partitionOverwriteMode = dynamic') -%}
            {%- do run_query('insert overwrite table ' ~ relation ~ ' partition (_batch_id) select ' ~ columns ~ ' from ' ~ kept) -%}
            {%- do run_query('uncache table ' ~ kept) -%}
            {%- do run_query('drop view if exists ' ~ kept) -%}
        {%- endif -%}
    {%- endif -%}
    select 1
{% endmacro %}
