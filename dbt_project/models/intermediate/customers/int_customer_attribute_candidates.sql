{#-
    Every value each profile record offers for each golden attribute, with its customer: what
    survivorship chooses from. `address` stands for street, city, postcode and country together, so a
    golden address is never stitched from two different records.
    Incremental: a run rebuilds the customers it changed.
-#}
{{ customer_model() }}
{%- set attributes = ['email', 'phone', 'first_name', 'last_name', 'birth_date', 'address', 'company'] %}
-- depends_on: {{ ref('int_customer_changes') }}

with records as (
    select * from {{ ref('int_customer_records') }}
    where {{ is_changed_customer() }}
),

profile_records as (
    select * from {{ ref('int_profile_records') }}
),

profiles as (
    select
        record_key,
        updated_at as observed_at,
        email,
        phone_e164 as phone,
        first_name,
        last_name,
        cast(birth_date as {{ dbt.type_string() }}) as birth_date,
        street,
        city,
        postcode,
        country,
        company
    from profile_records
),

with_address as (
    select
        *,
        case
            when street is not null or city is not null or postcode is not null
                then {{ dbt.concat([
                    "coalesce(street, '')", "' | '", "coalesce(postcode, '')", "' | '",
                    "coalesce(city, '')", "' | '", "coalesce(country, '')"
                ]) }}
        end as address
    from profiles
),

unpivoted as (
    {% for attribute in attributes %}
    select
        record_key,
        observed_at,
        '{{ attribute }}' as attribute,
        cast({{ attribute }} as {{ dbt.type_string() }}) as value
    from with_address
    where {{ attribute }} is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        records.customer_id,
        records.source,
        records.stream,
        records.record_id,
        unpivoted.record_key,
        unpivoted.attribute,
        unpivoted.value,
        unpivoted.observed_at
    from unpivoted
    inner join records on unpivoted.record_key = records.record_key
)

select * from final
