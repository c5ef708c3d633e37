{#-
    Every source record with the identity component it belongs to. A component counts as a customer
    when it holds a profile record (CRM contact, ESP subscriber, loyalty member) or a stitched personal
    identifier (email, phone, CRM contact id); components of anonymous browsing or card-only purchases
    are not customers.
-#}
with resolution as (
    select * from {{ ref('int_identity_resolution') }}
),

profile_records as (
    select record_key from {{ ref('int_profile_records') }}
),

records as (
    select
        record_key,
        source,
        stream,
        record_id,
        min(customer_key) as customer_key
    from resolution
    group by 1, 2, 3, 4
),

evidence as (
    select
        resolution.customer_key,
        max(
            case
                when profile_records.record_key is not null then 1
                when
                    resolution.decision = 'stitched'
                    and resolution.identifier_type in ('email', 'phone', 'crm_contact_id')
                    then 1
                else 0
            end
        ) as is_person
    from resolution
    left join profile_records on resolution.record_key = profile_records.record_key
    group by 1
),

final as (
    select
        records.record_key,
        records.source,
        records.stream,
        records.record_id,
        records.customer_key
    from records
    inner join evidence on records.customer_key = evidence.customer_key
    where evidence.is_person = 1
)

select * from final
