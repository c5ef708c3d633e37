{#-
    One row per loyalty programme member as they stand now: the latest landed version of each,
    cleaned for display and folded for matching like CRM contacts.
-#}
{{ config(unique_key='loyalty_id') }}

with source as (
    select * from {{ source('pos', 'loyalty_members') }}
    {{ landed_since_last_run() }}
),

current_members as (
    {{ latest_versions('source', 'loyalty_id', 'updated_at') }}
),

located as (
    select
        *,
        {{ normalize_country('country') }} as country_stated
    from current_members
),

normalised as (
    select
        cast(loyalty_id as {{ dbt.type_string() }}) as loyalty_id,
        {{ clean_text('first_name', 'name') }} as first_name,
        {{ normalize_name('first_name') }} as first_name_norm,
        {{ clean_text('last_name', 'name') }} as last_name,
        {{ normalize_name('last_name') }} as last_name_norm,
        {{ normalize_email('email') }} as email,
        phone,
        {{ normalize_phone('phone', 'country_stated') }} as phone_e164,
        {{ parse_birth_date(
            'birth_date',
            slash_order="case when country_stated = 'US' then 'mdy' else 'dmy' end",
            as_of='cast(updated_at as date)'
        ) }} as birth_date,
        birth_date as birth_date_raw,
        {{ clean_text('street', 'address') }} as street,
        {{ normalize_street('street') }} as street_norm,
        {{ clean_text('city', 'address') }} as city,
        {{ normalize_name('city', 'address') }} as city_norm,
        {{ clean_text('postcode', 'address') }} as postcode,
        {{ normalize_postcode('postcode', 'country_stated') }} as postcode_norm,
        country_stated,
        country as country_raw,
        enrolled_at,
        updated_at,
        _batch_id,
        _extracted_at
    from located
),

final as (
    select
        loyalty_id,
        first_name,
        first_name_norm,
        last_name,
        last_name_norm,
        email,
        {{ canonical_email('email') }} as email_canonical,
        phone,
        phone_e164,
        birth_date,
        birth_date_raw,
        street,
        street_norm,
        city,
        city_norm,
        postcode,
        postcode_norm,
        coalesce(country_stated, {{ phone_country('phone_e164') }}) as country,
        country_raw,
        enrolled_at,
        updated_at,
        _batch_id,
        _extracted_at
    from normalised
)

{{ keep_newer_than_current('final', 'loyalty_id', 'updated_at') }}
