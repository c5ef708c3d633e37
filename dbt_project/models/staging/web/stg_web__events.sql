{#-
    One row per website event (page view, tracked action, identify call). A message delivered
    twice is kept once. The email of an identify call is cleaned like every other email.
-#}
{{ config(unique_key='message_id') }}

with source as (
    select * from {{ source('web', 'events') }}
    {{ landed_since_last_run() }}
),

unique_events as (
    {{ latest_versions('source', 'message_id', 'occurred_at') }}
),

normalised as (
    select
        cast(message_id as {{ dbt.type_string() }}) as message_id,
        lower(trim(type)) as type,
        event,
        nullif(trim(anonymous_id), '') as anonymous_id,
        nullif(trim(user_id), '') as user_id,
        {{ normalize_email('email') }} as email,
        url,
        referrer,
        user_agent,
        nullif(trim(ip), '') as ip,
        properties,
        occurred_at,
        _batch_id,
        _extracted_at,
        _visible_at
    from unique_events
),

final as (
    select
        message_id,
        type,
        event,
        anonymous_id,
        user_id,
        email,
        {{ canonical_email('email') }} as email_canonical,
        url,
        referrer,
        user_agent,
        ip,
        properties,
        occurred_at,
        _batch_id,
        _extracted_at,
        _visible_at
    from normalised
)

{{ keep_newer_than_current('final', 'message_id', 'occurred_at') }}
