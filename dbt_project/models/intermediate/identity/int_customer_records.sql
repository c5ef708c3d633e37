{#- Every source record of a customer, with the customer's stable id. -#}
with components as (
    select * from {{ ref('int_customer_components') }}
),

latest_ids as (
    select
        record_key,
        customer_id
    from (
        select
            record_key,
            customer_id,
            row_number() over (partition by record_key order by assigned_at desc) as recency
        from {{ ref('int_customer_id_history') }}
    ) as ranked
    where recency = 1
),

final as (
    select
        components.record_key,
        components.source,
        components.stream,
        components.record_id,
        components.customer_key,
        latest_ids.customer_id
    from components
    inner join latest_ids on components.record_key = latest_ids.record_key
)

select * from final
