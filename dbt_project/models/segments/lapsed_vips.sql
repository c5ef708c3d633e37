{#-
    Lapsed VIPs: customers whose lifetime value reaches `segments.vip_lifetime_value` and who have not
    ordered for `segments.lapsed_days` days. "Now" is the `as_of` var, else the latest activity in the
    data (as in int_customer_traits), so a rebuild of old data gives the same members.
-#}
{%- set settings = var('segments') -%}

with customers as (
    select * from {{ ref('golden_customers') }}
),

as_of as (
    {{ segment_as_of() }}
),

final as (
    select
        customers.customer_id,
        customers.lifetime_value,
        customers.order_count,
        customers.last_order_at,
        {#- The rendered date difference is long on some engines (hence the noqa). #}
        {{ dbt.datediff('customers.last_order_at', 'as_of.as_of', 'day') }} as days_since_last_order  -- noqa: LT05
    from customers
    cross join as_of
    where
        customers.lifetime_value >= {{ settings['vip_lifetime_value'] }}
        and customers.last_order_at <= {{ dbt.dateadd('day', -settings['lapsed_days'], 'as_of.as_of') }}
)

select * from final
