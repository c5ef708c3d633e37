{#-
    On DuckDB, the sources are views over the lake, one per stream, named like the source (`crm.contacts`,
    `web.events`, …), made again at the start of every dbt invocation (on-run-start) over exactly the
    batches that are visible then: published by their loader (`_SUCCESS`) and either checked
    (`_CHECKED.json`) or released by an operator (`_RELEASED.json`). Held batches, batches still being
    written and batches not yet checked stay in the lake, unread (docs/landing-contract.md).

    Each view adds `_visible_at`, the time its batch became visible (the marker's `at`), which incremental
    staging reads instead of `_extracted_at`, so that a batch released after later ones is still read.
    Files are read as they are (`union_by_name`, no casts): a batch whose columns break the contract is
    held by its checks, never coerced here. With no visible batch, the view is empty with the columns the
    sources YAML declares (the landing contract), which also gives dbt's unit tests their column types.
    On PostgreSQL the sources are tables the loader fills with the same batches, so there is nothing to do.
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
            {%- set folder = env_var('TESSERA_HOME', '../data') ~ '/lake/raw/' ~ node.source_name ~ '/' ~ node.name -%}
            {%- set visible = tessera.visible_lake_batches(folder) -%}
            {%- if visible -%}
                {%- set files = [] -%}
                {%- set rows = [] -%}
                {%- for batch_id, visible_at in visible -%}
                    {%- do files.append(tessera.sql_string_literal(folder ~ "/batch_id=" ~ batch_id ~ "/*.parquet")) -%}
                    {%- do rows.append(
                        "(" ~ tessera.sql_string_literal(batch_id) ~ ", cast(" ~ tessera.sql_string_literal(visible_at)
                        ~ " as timestamp with time zone))"
                    ) -%}
                {%- endfor -%}
                {%- set body -%}
                    select lake_rows.*, visible.visible_at as _visible_at
                    from read_parquet([{{ files | join(', ') }}], union_by_name = true, hive_partitioning = false) as lake_rows
                    inner join (values {{ rows | join(', ') }}) as visible (batch_id, visible_at)
                        on lake_rows._batch_id = visible.batch_id
                {%- endset -%}
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

{#- The visible batches of one stream folder, as (batch_id, visible_at) pairs in batch order. -#}
{% macro visible_lake_batches(folder) %}
    {%- set pattern = folder ~ '/batch_id=*/_*' -%}
    {%- if run_query("select count(*) from glob(" ~ tessera.sql_string_literal(pattern) ~ ")").columns[0].values()[0] == 0 -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        with markers as (
            select
                regexp_extract(filename, 'batch_id=([^/]+)/[^/]+$', 1) as batch_id,
                parse_filename(filename) as marker,
                case
                    when parse_filename(filename) like '%.json'
                        then try_cast(json_extract_string(content, '$.at') as timestamp with time zone)
                end as marked_at
            from read_text({{ tessera.sql_string_literal(pattern) }})
        )

        select
            batch_id,
            strftime(
                coalesce(
                    max(marked_at) filter (where marker = '_RELEASED.json'),
                    max(marked_at) filter (where marker = '_CHECKED.json')
                ) at time zone 'UTC',
                '%Y-%m-%d %H:%M:%S.%f+00'
            ) as visible_at
        from markers
        group by batch_id
        having
            bool_or(marker = '_SUCCESS')
            and (bool_or(marker = '_CHECKED.json') or bool_or(marker = '_RELEASED.json'))
        order by batch_id
    {%- endset -%}
    {%- set result = run_query(query) -%}
    {{ return(result.rows | map('list') | list) }}
{% endmacro %}
