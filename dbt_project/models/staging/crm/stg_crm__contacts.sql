{#-
    One row per CRM contact as it stands now: the latest landed version of each, minus contacts
    the CRM has archived. Values are cleaned for display (`first_name`) and folded for matching
    (`first_name_norm`); the matching forms are what identity resolution compares.

    Incremental: an archived contact's tombstone replaces the contact and the post-hook deletes it.
-#}
{{ config(unique_key='contact_id', post_hook="{{ delete_rows(this, 'is_deleted') }}") }}

with source as (
    select * from {{ source('crm', 'contacts') }}
    {{ landed_since_last_run() }}
),

latest as (
    {{ latest_versions('source', 'contact_id', 'updated_at') }}
),

current_contacts as (
    select * from latest
    {%- if not is_incremental() %}
    where not coalesce(is_deleted, false)
    {%- endif %}
),

located as (
    select
        *,
        {{ normalize_country('country') }} as country_stated
    from current_contacts
),

normalised as (
    select
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,
        {{ normalize_email('email') }} as email,
        phone,
        {{ normalize_phone('phone', 'country_stated') }} as phone_e164,
        {#- sqlfluff cannot parse the DuckDB lambda the birth-date parser compiles to (hence the noqa). #}
        {{ normalize_person_columns() }},  -- noqa: PRS
        country_stated,
        country as country_raw,
        {{ clean_text('company') }} as company,
        marketing_opt_in,
        coalesce(is_deleted, false) as is_deleted,
        created_at,
        updated_at,
        _batch_id,
        _extracted_at,
        _visible_at
    from located
),

final as (
    select
        contact_id,
        email,
        {{ canonical_email('email') }} as email_canonical,
        phone,
        phone_e164,
        first_name,
        first_name_norm,
        last_name,
        last_name_norm,
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
        company,
        marketing_opt_in,
        is_deleted,
        created_at,
        updated_at,
        _batch_id,
        _extracted_at,
        _visible_at
    from normalised
)

{{ keep_newer_than_current('final', 'contact_id', 'updated_at') }}
