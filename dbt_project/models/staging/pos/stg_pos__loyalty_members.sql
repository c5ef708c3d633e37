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
        {{ normalize_email('email') }} as email,
        phone,
        {{ normalize_phone('phone', 'country_stated') }} as phone_e164,
        {#- sqlfluff cannot parse the DuckDB lambda the birth-date parser compiles to (hence the noqa). #}
        {{ normalize_person_columns() }},  -- noqa: PRS
        country_stated,
        country as country_raw,
        enrolled_at,
        updated_at,
        _batch_id,
        _extracted_at,
        _visible_at
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
        _extracted_at,
        _visible_at
    from normalised
)

{{ keep_newer_than_current('final', 'loyalty_id', 'updated_at') }}
