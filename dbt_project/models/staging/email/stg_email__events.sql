{#- One row per email event (send, delivery, open, click, bounce, unsubscribe, spam complaint). -#}
{{ config(unique_key='event_id') }}

with source as (
    select * from {{ source('email', 'events') }}
    {{ landed_since_last_run() }}
),

unique_events as (
    {{ latest_versions('source', 'event_id', 'occurred_at') }}
),

normalised as (
    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        subscriber_id,
        {{ normalize_email('email') }} as email,
        campaign_id,
        lower(trim(event_type)) as event_type,
        url,
        occurred_at,
        _batch_id,
        _extracted_at,
        _visible_at
    from unique_events
),

final as (
    select
        event_id,
        subscriber_id,
        email,
        {{ canonical_email('email') }} as email_canonical,
        campaign_id,
        event_type,
        url,
        occurred_at,
        _batch_id,
        _extracted_at,
        _visible_at
    from normalised
)

{{ keep_newer_than_current('final', 'event_id', 'occurred_at') }}
