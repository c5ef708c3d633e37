{#-
    The customers whose rows downstream of stitching (activity, consent, traits, lineage, golden rows,
    xref) a run must rebuild, so that a daily run costs what the day changed:
    - records whose customer changed since the last run (the id history's new rows: new, moved, merged,
      split or released records), under their new and their previous id;
    - records whose source data changed: staging rows that became visible since the last run (profile
      records, receipts, e-mail events, web events of a visitor or of a logged-in contact, with every
      event of the same browser, whose sessions they may change);
    - customers with an event that left a "last 30 days" window since the last run (`activity_as_of`).

    The customer models downstream are incremental: each deletes the rows of these customers and inserts
    them again (`rebuild_changed_customers`). One row per run (`customer_id` null) keeps what that run
    read: the newest `_visible_at` of staging (the watermark) and its "now". A first build or a full
    refresh marks its run `rebuilt_all`, and every customer is built. Rows stay until a run has rebuilt
    every customer model from them (`clear_consumed_customer_changes`, on-run-end), so a failed run's
    customers are rebuilt by the next one.
-#}
{{ config(
    materialized=incremental_by_key(),
    incremental_strategy='append',
    on_schema_change='fail',
    post_hook="{{ log_customer_changes() }}",
) }}

{%- set run_at = "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as " ~ dbt.type_timestamp() ~ ")" %}
{%- set staging = watermarked_staging_models() %}
-- depends_on: {{ ref('int_customer_records') }}
-- depends_on: {{ ref('int_customer_id_history') }}

with as_of as (
    {{ activity_as_of() }}
),

watermarks as (
    {% for model in staging %}
    select
        '{{ model }}' as staged_model,
        max(_visible_at) as watermark
    from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

{% if is_incremental() %}
last_run as (
    select
        max(changed_at) as changed_at,
        max(as_of) as as_of
    from {{ this }}
    where customer_id is null
),

records as (
    select * from {{ ref('int_customer_records') }}
),

history as (
    select * from {{ ref('int_customer_id_history') }}
),

web_events as (
    select
        events.anonymous_id,
        events.user_id,
        events.occurred_at,
        events._visible_at
    from {{ ref('stg_web__events') }} as events
),

{#- Events whose 30-day window closed between the last run's "now" and this run's. #}
window_band as (
    select
        {{ dbt.dateadd('day', -30, 'last_run.as_of') }} as band_start,
        {{ dbt.dateadd('day', -30, 'as_of.as_of') }} as band_end
    from last_run
    cross join as_of
),

touched_browsers as (
    select web_events.anonymous_id
    from web_events
    cross join window_band
    where
        web_events.anonymous_id is not null
        and (
            {{ staged_since_last_run('web_events', 'stg_web__events') }}
            or (web_events.occurred_at > window_band.band_start and web_events.occurred_at <= window_band.band_end)
        )
    group by 1
),

touched_records as (
    {% for stream, model, record_id in [
        ('contacts', 'stg_crm__contacts', 'contact_id'),
        ('subscribers', 'stg_email__subscribers', 'subscriber_id'),
        ('loyalty_members', 'stg_pos__loyalty_members', 'loyalty_id'),
        ('transactions', 'stg_pos__transactions', 'transaction_id'),
    ] %}
    select
        '{{ stream }}' as stream,
        staged.{{ record_id }} as record_id
    from {{ ref(model) }} as staged
    where {{ staged_since_last_run('staged', model) }}

    union all
    {% endfor %}

    select
        'subscribers' as stream,
        events.subscriber_id as record_id
    from {{ ref('stg_email__events') }} as events
    cross join window_band
    where
        {{ staged_since_last_run('events', 'stg_email__events') }}
        or (events.occurred_at > window_band.band_start and events.occurred_at <= window_band.band_end)

    union all

    select
        'visitors' as stream,
        touched_browsers.anonymous_id as record_id
    from touched_browsers

    union all

    select
        'contacts' as stream,
        web_events.user_id as record_id
    from web_events
    inner join touched_browsers on web_events.anonymous_id = touched_browsers.anonymous_id
    where web_events.user_id is not null
),

reassigned as (
    select
        history.record_key,
        history.customer_id
    from history
    cross join last_run
    where history.assigned_at > last_run.changed_at
),

previous_ids as (
    select customer_id
    from (
        select
            history.customer_id,
            row_number() over (partition by history.record_key order by history.assigned_at desc) as recency
        from history
        inner join (select distinct record_key from reassigned) as moved on history.record_key = moved.record_key
        cross join last_run
        where history.assigned_at <= last_run.changed_at
    ) as ranked
    where recency = 1
),

changed as (
    select records.customer_id
    from records
    inner join touched_records
        on records.stream = touched_records.stream and records.record_id = touched_records.record_id

    union all

    select customer_id from reassigned

    union all

    select customer_id from previous_ids
),

customers as (
    select
        customer_id,
        {{ run_at }} as changed_at,
        cast(null as {{ dbt.type_string() }}) as staged_model,
        cast(null as {{ dbt.type_timestamp() }}) as watermark,
        cast(null as {{ dbt.type_timestamp() }}) as as_of,
        false as rebuilt_all
    from changed
    where customer_id is not null
    group by 1
),
{% endif %}

run as (
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        {{ run_at }} as changed_at,
        watermarks.staged_model,
        watermarks.watermark,
        as_of.as_of,
        {{ 'false' if is_incremental() else 'true' }} as rebuilt_all
    from watermarks
    cross join as_of
),

final as (
    select * from run
    {% if is_incremental() %}
    union all
    select * from customers
    {% endif %}
)

select * from final
