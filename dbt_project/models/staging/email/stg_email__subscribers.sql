{#- One row per mailing-list subscriber as they stand now: the latest landed version of each. -#}
{{ config(unique_key='subscriber_id') }}

with source as (
    select * from {{ source('email', 'subscribers') }}
    {{ landed_since_last_run() }}
),

current_subscribers as (
    {{ latest_versions('source', 'subscriber_id', 'updated_at') }}
),

normalised as (
    select
        cast(subscriber_id as {{ dbt.type_string() }}) as subscriber_id,
        {{ normalize_email('email') }} as email,
        lower(trim(status)) as status,
        {{ clean_text('first_name', 'name') }} as first_name,
        {{ normalize_name('first_name') }} as first_name_norm,
        {{ clean_text('last_name', 'name') }} as last_name,
        {{ normalize_name('last_name') }} as last_name_norm,
        opted_in_at,
        updated_at,
        _batch_id,
        _extracted_at,
        _visible_at
    from current_subscribers
),

final as (
    select
        subscriber_id,
        email,
        {{ canonical_email('email') }} as email_canonical,
        status,
        first_name,
        first_name_norm,
        last_name,
        last_name_norm,
        opted_in_at,
        updated_at,
        _batch_id,
        _extracted_at,
        _visible_at
    from normalised
)

{{ keep_newer_than_current('final', 'subscriber_id', 'updated_at') }}
