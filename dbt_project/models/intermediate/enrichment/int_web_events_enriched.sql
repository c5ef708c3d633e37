{#-
    Web events with what their user agent and IP address say about the visitor: device type,
    browser, operating system and country. Computed on DuckDB and Spark by Python functions
    (transforms/enrichment/web_events.py); NULL on engines without them (see macros/enrichment/).
    Incremental like staging: a run enriches only the events staged since the previous run, and its data
    tests check those (`new_rows_of`, macros/tests/get_where_subquery.sql). On Spark, like staging, it
    rewrites `_batch_id` partitions (`replace_by_key`, macros/staging/incremental_batches.sql).
-#}
{{ config(
    materialized='incremental',
    unique_key='message_id',
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else 'delete+insert'),
    partition_by=(['_batch_id'] if target.type == 'spark' else none),
    post_hook="{{ drop_superseded_partitions() }}",
    on_schema_change='fail',
    meta={'new_rows_of': 'stg_web__events'},
) }}

with events as (
    select * from {{ ref('stg_web__events') }}
    {{ landed_since_last_run() }}
),

final as (
    select
        events.*,
        {{ user_agent_device_type('user_agent') }} as device_type,
        {{ user_agent_browser_family('user_agent') }} as browser_family,
        {{ user_agent_os_family('user_agent') }} as os_family,
        {{ ip_country('ip') }} as ip_country
    from events
)

{{ replace_by_key('final', 'message_id') }}
