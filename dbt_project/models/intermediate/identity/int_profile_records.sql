{#-
    One row per current profile record: a CRM contact, an ESP subscriber or a loyalty member, each under
    its record key. It carries the values matching compares (the folded `*_norm` forms, the canonical
    email, the E.164 phone) and the values survivorship chooses from (as cleaned for display). ESP
    subscribers bring a name and an email only; loyalty members have no company.

    Incremental: a run rewrites the records whose staging rows became visible since the newest it holds of
    their stream, and the post-hook deletes records gone from staging (an archived CRM contact).
-#}
{{ config(
    materialized=incremental_by_key(),
    incremental_strategy='delete+insert',
    unique_key='record_key',
    on_schema_change='fail',
    post_hook="{{ delete_profile_records_gone_from_staging() }}",
) }}

with contacts as (
    select * from {{ ref('stg_crm__contacts') }}
    {{ profile_records_since_last_run('crm', 'contacts') }}
),

subscribers as (
    select * from {{ ref('stg_email__subscribers') }}
    {{ profile_records_since_last_run('email', 'subscribers') }}
),

members as (
    select * from {{ ref('stg_pos__loyalty_members') }}
    {{ profile_records_since_last_run('pos', 'loyalty_members') }}
),

crm_contacts as (
    select
        {{ record_columns('crm', 'contacts', 'contact_id') }},
        updated_at,
        _visible_at,
        first_name_norm,
        last_name_norm,
        birth_date,
        street_norm,
        postcode_norm,
        city_norm,
        email_canonical,
        phone_e164,
        email,
        first_name,
        last_name,
        street,
        postcode,
        city,
        country,
        company
    from contacts
),

email_subscribers as (
    select
        {{ record_columns('email', 'subscribers', 'subscriber_id') }},
        updated_at,
        _visible_at,
        first_name_norm,
        last_name_norm,
        cast(null as date) as birth_date,
        cast(null as {{ dbt.type_string() }}) as street_norm,
        cast(null as {{ dbt.type_string() }}) as postcode_norm,
        cast(null as {{ dbt.type_string() }}) as city_norm,
        email_canonical,
        cast(null as {{ dbt.type_string() }}) as phone_e164,
        email,
        first_name,
        last_name,
        cast(null as {{ dbt.type_string() }}) as street,
        cast(null as {{ dbt.type_string() }}) as postcode,
        cast(null as {{ dbt.type_string() }}) as city,
        cast(null as {{ dbt.type_string() }}) as country,
        cast(null as {{ dbt.type_string() }}) as company
    from subscribers
),

pos_loyalty_members as (
    select
        {{ record_columns('pos', 'loyalty_members', 'loyalty_id') }},
        updated_at,
        _visible_at,
        first_name_norm,
        last_name_norm,
        birth_date,
        street_norm,
        postcode_norm,
        city_norm,
        email_canonical,
        phone_e164,
        email,
        first_name,
        last_name,
        street,
        postcode,
        city,
        country,
        cast(null as {{ dbt.type_string() }}) as company
    from members
),

final as (
    select * from crm_contacts
    union all
    select * from email_subscribers
    union all
    select * from pos_loyalty_members
)

select * from final
