{#-
    One-time buyers: customers with exactly one attributed order, the audience for a second-purchase
    nudge. "Now" (for the days since that order) is the `as_of` var, else the latest activity in the data.
-#}
with customers as (
    select * from {{ ref('golden_customers') }}
),

as_of as (
    {{ segment_as_of() }}
),

final as (
    select
        customers.customer_id,
        customers.lifetime_value as order_value,
        customers.last_order_at as ordered_at,
        {#- The rendered date difference is long on some engines (hence the noqa). #}
        {{ dbt.datediff('customers.last_order_at', 'as_of.as_of', 'day') }} as days_since_order  -- noqa: LT05
    from customers
    cross join as_of
    where customers.order_count = 1
)

select * from final
