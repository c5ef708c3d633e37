{#- Which customer each source record belongs to: the public cross-reference. -#}
with records as (
    select * from {{ ref('int_customer_records') }}
),

final as (
    select
        source,
        stream,
        record_id,
        customer_id
    from records
    where stream <> 'logins'
)

select * from final
