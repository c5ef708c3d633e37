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

    On Spark they are views too, made the same way at the start of every invocation. Spark's SQL cannot read the
    lake's `_`-prefixed markers, so the visible batches, and the files that make each (`connectors.lake.batch_files`:
    on object storage exactly those its `_SUCCESS` lists), come from `tessera_visible_lake_batches(folder)`, which
    Tessera's Spark session registers (transforms/enrichment/spark_functions.py): the rule the PostgreSQL loader
    applies in Python (`connectors.lake.is_visible`), the same as the one below. A lake in a folder is read by
    Spark's Parquet reader, through a Hadoop glob naming those files, in views in the metastore (`crm.contacts`, …).
    A lake in a bucket cannot be (pyspark ships no `s3a://` filesystem): the files are read by the `tessera_lake_files`
    data source (transforms/spark_lake.py: pyarrow over the lake's fsspec filesystem), which only a temporary view
    can use, so there the sources are temporary views in the session dbt runs on (`session.crm__contacts`, …), and
    the `source()` below names them. The views cast every column to the contract's type (the sources YAML,
    generated from connectors/contract.py), and read files written before a column existed with NULL there
    (`spark.sql.parquet.mergeSchema`, tessera/spark.py; the data source reads them so too), as `union_by_name`
    does.
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
            {%- set folder = tessera.lake_root() ~ '/raw/' ~ node.source_name ~ '/' ~ node.name -%}
            {%- set visible = tessera.visible_lake_batches(folder) -%}
            {%- if visible -%}
                {%- set files = [] -%}
                {%- set rows = [] -%}
                {%- for batch_id, visible_at, listed in visible -%}
                    {#- The files `_SUCCESS` lists (object storage), else every part file of the batch. -#}
                    {%- for name in (fromjson(listed) if listed else ['*.parquet']) -%}
                        {%- do files.append(tessera.sql_string_literal(folder ~ "/batch_id=" ~ batch_id ~ "/" ~ name)) -%}
                    {%- endfor -%}
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

{#-
    Where the lake is: `TESSERA_LAKE` (a folder or an `s3://` URL, read through the lake's filesystem that the
    transforms.duckdb_lake plugin registers), else `$TESSERA_HOME/lake`.
-#}
{% macro lake_root() %}
    {{- return(env_var('TESSERA_LAKE', '') or (env_var('TESSERA_HOME', '../data') ~ '/lake')) -}}
{% endmacro %}

{#-
    The visible batches of one stream folder, as (batch_id, visible_at, listed) in batch order: `listed` is the
    JSON list of the files `_SUCCESS` names (a batch on object storage, docs/landing-contract.md), else NULL.
-#}
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
                end as marked_at,
                case
                    when parse_filename(filename) = '_SUCCESS' and trim(content) <> ''
                        then cast(json_extract(content, '$.files') as varchar)
                end as listed
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
            ) as visible_at,
            max(listed) as listed
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

{% macro spark__create_lake_source_views() %}
    {%- if execute -%}
        {%- set lake = tessera.lake_root() -%}
        {%- set in_bucket = tessera.lake_in_bucket() -%}
        {%- set streams = [] -%}
        {%- for node in graph.sources.values() if node.package_name == project_name -%}
            {%- do streams.append((node, lake ~ '/raw/' ~ node.source_name ~ '/' ~ node.name)) -%}
        {%- endfor -%}
        {#- One query lists every stream's visible batches: each query that calls Python costs Spark a round trip. -#}
        {%- set folders = [] -%}
        {%- for node, folder in streams -%}
            {%- do folders.append('(' ~ tessera.spark_string_literal(folder) ~ ')') -%}
        {%- endfor -%}
        {%- set visible_by_folder = {} -%}
        {%- if folders -%}
            {%- set listed = run_query(
                'select folder, batch_id, visible_at, to_json(files) from ('
                ~ 'select stream.folder, inline(tessera_visible_lake_batches(stream.folder)) from (values '
                ~ (folders | join(', ')) ~ ') as stream (folder))'
            ) -%}
            {%- for folder, batch_id, visible_at, files in listed.rows -%}
                {%- do visible_by_folder.setdefault(folder, []).append((batch_id, visible_at, fromjson(files))) -%}
            {%- endfor -%}
        {%- endif -%}
        {#- Unit tests read their source fixtures' column types from the metastore (dbt's `get_fixture_sql`). -#}
        {%- set unit_tests = [] -%}
        {%- for unique_id in selected_resources if unique_id.startswith('unit_test.') -%}
            {%- do unit_tests.append(unique_id) -%}
        {%- endfor -%}
        {%- for node, folder in streams -%}
            {%- set in_metastore = api.Relation.create(schema=node.schema, identifier=node.identifier) -%}
            {%- set view = tessera.spark__lake_source_relation(in_metastore) -%}
            {%- set columns = [] -%}
            {%- for column in node.columns.values() if column.name != '_visible_at' -%}
                {%- do columns.append((adapter.quote(column.name), tessera.spark_type(column.data_type))) -%}
            {%- endfor -%}
            {%- set nulls = [] -%}
            {%- for name, type in columns -%}
                {%- do nulls.append('cast(null as ' ~ type ~ ') as ' ~ name) -%}
            {%- endfor -%}
            {%- set empty = 'select ' ~ (nulls | join(', ')) ~ ', cast(null as timestamp) as _visible_at where false' -%}
            {%- set files = [] -%}
            {%- set rows = [] -%}
            {%- for batch_id, visible_at, names in visible_by_folder.get(folder, []) | sort(attribute='0') -%}
                {%- for name in names -%}
                    {%- do files.append('batch_id=' ~ batch_id ~ '/' ~ name) -%}
                {%- endfor -%}
                {%- do rows.append(
                    "(" ~ tessera.spark_string_literal(batch_id) ~ ", cast("
                    ~ tessera.spark_string_literal(visible_at) ~ " as timestamp))"
                ) -%}
            {%- endfor -%}
            {%- if files and in_bucket -%}
                {%- set lake_rows = view.incorporate(path={'identifier': view.identifier ~ '__files'}) -%}
                {%- set declared = [] -%}
                {%- set paths = [] -%}
                {%- for name, type in columns -%}
                    {%- do declared.append(name ~ ' ' ~ type) -%}
                {%- endfor -%}
                {%- for file in files -%}
                    {%- do paths.append(folder ~ '/' ~ file) -%}
                {%- endfor -%}
                {%- do run_query(
                    'create or replace temporary view ' ~ lake_rows ~ ' (' ~ (declared | join(', ')) ~ ') using '
                    ~ 'tessera_lake_files options (files ' ~ tessera.spark_string_literal(tojson(paths)) ~ ')'
                ) -%}
            {%- elif files -%}
                {%- set escaped = [] -%}
                {%- for file in files -%}
                    {%- do escaped.append(tessera.hadoop_glob_escape(file)) -%}
                {%- endfor -%}
                {%- set glob = tessera.hadoop_glob_escape(folder) ~ '/{' ~ (escaped | join(',')) ~ '}' -%}
                {%- set lake_rows = 'parquet.`' ~ (glob | replace('`', '``')) ~ '`' -%}
            {%- endif -%}
            {%- if files -%}
                {%- set casts = [] -%}
                {%- for name, type in columns -%}
                    {%- do casts.append('cast(lake_rows.' ~ name ~ ' as ' ~ type ~ ') as ' ~ name) -%}
                {%- endfor -%}
                {%- set body -%}
                    select {{ casts | join(', ') }}, visible.visible_at as _visible_at
                    from {{ lake_rows }} as lake_rows
                    inner join (values {{ rows | join(', ') }}) as visible (batch_id, visible_at)
                        on lake_rows._batch_id = visible.batch_id
                {%- endset -%}
            {%- else -%}
                {%- set body = empty -%}
            {%- endif -%}
            {%- if in_bucket -%}
                {%- do run_query('create or replace temporary view ' ~ view ~ ' as ' ~ body) -%}
                {%- if unit_tests -%}
                    {#- Only the columns: the bucket's rows are read in dbt's session, through the view above. -#}
                    {%- do run_query('create database if not exists ' ~ adapter.quote(node.schema)) -%}
                    {%- do run_query('create or replace view ' ~ in_metastore ~ ' as ' ~ empty) -%}
                {%- endif -%}
            {%- else -%}
                {%- do run_query('create database if not exists ' ~ adapter.quote(node.schema)) -%}
                {%- do run_query('create or replace view ' ~ view ~ ' as ' ~ body) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{% endmacro %}

{#-
    `source()` as dbt resolves it, but on Spark with the lake in a bucket, where a source is the temporary view
    the hook makes (`session.crm__contacts` for `source('crm', 'contacts')`; a temporary view has no schema of
    its own). A unit test's fixture rows (a CTE) are left as they are.
-#}
{% macro source(source_name, table_name) %}
    {{- return(adapter.dispatch('lake_source_relation', 'tessera')(builtins.source(source_name, table_name))) -}}
{% endmacro %}

{% macro default__lake_source_relation(relation) %}
    {{- return(relation) -}}
{% endmacro %}

{% macro spark__lake_source_relation(relation) %}
    {%- if relation.type == 'cte' or not tessera.lake_in_bucket() -%}
        {{- return(relation) -}}
    {%- endif -%}
    {{- return(relation.incorporate(path={
        'schema': 'session', 'identifier': relation.schema ~ '__' ~ relation.identifier
    })) -}}
{% endmacro %}

{#-
    Whether the lake is in a bucket (`s3://…`), which Hadoop cannot read without the hadoop-aws jar, rather than in
    a folder (a path or a `file://` URL), as `connectors.lake_storage.lake_path` tells them apart.
-#}
{% macro lake_in_bucket() %}
    {%- set lake = tessera.lake_root() -%}
    {{- return('://' in lake and not lake.startswith('file://')) -}}
{% endmacro %}

{#-
    A value as a Spark SQL string literal: Spark reads backslash escapes (`\n`, `\\`) in literals, so a backslash is
    doubled as well as a quote escaped.
-#}
{% macro spark_string_literal(value) %}
    {{- return("'" ~ (value | string | replace('\\', '\\\\') | replace("'", "\\'")) ~ "'") -}}
{% endmacro %}

{#- A sources YAML type (the landing contract's, as DuckDB and PostgreSQL spell it) in Spark's words. -#}
{% macro spark_type(data_type) %}
    {%- set spelled = (data_type or 'varchar') | lower | trim -%}
    {%- if spelled in ('varchar', 'text') -%}
        {{- return('string') -}}
    {%- elif spelled == 'timestamp with time zone' -%}
        {{- return('timestamp') -}}
    {%- else -%}
        {{- return(spelled) -}}
    {%- endif -%}
{% endmacro %}

{#- A path taken literally by Hadoop's glob (its special characters escaped), for a Parquet path Spark expands. -#}
{% macro hadoop_glob_escape(path) %}
    {{- return(
        path | string | replace('\\', '\\\\') | replace('{', '\\{') | replace('}', '\\}') | replace('[', '\\[')
        | replace(']', '\\]') | replace('*', '\\*') | replace('?', '\\?') | replace(',', '\\,')
    ) -}}
{% endmacro %}
