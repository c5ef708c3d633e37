{#-
    How customer ids changed, so destinations can follow: when customers merge, each retired id points
    to the surviving (oldest) id; when a customer splits, its retired id points to each new id.
-#}
with history as (
    select
        record_key,
        customer_id,
        assigned_at,
        lag(customer_id) over (partition by record_key order by assigned_at) as previous_id
    from {{ ref('int_customer_id_history') }}
),

changes as (
    select
        previous_id as old_customer_id,
        customer_id as new_customer_id,
        assigned_at as merged_at
    from history
    where previous_id is not null and previous_id <> customer_id
    group by 1, 2, 3
),

fanout as (
    select
        old_customer_id,
        merged_at,
        count(*) as new_ids
    from changes
    group by 1, 2
),

final as (
    select
        changes.old_customer_id,
        changes.new_customer_id,
        changes.merged_at,
        case when fanout.new_ids > 1 then 'split' else 'merge' end as reason
    from changes
    inner join fanout
        on changes.old_customer_id = fanout.old_customer_id and changes.merged_at = fanout.merged_at
)

select * from final
