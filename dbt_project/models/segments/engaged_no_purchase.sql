{#-
    Engaged, not buying: customers who opened or clicked at least `segments.engaged_min_email_interactions`
    campaign e-mails in the last 30 days (golden_customers' counters) and have not ordered for
    `segments.no_purchase_days` days, or never. "Now" is the `as_of` var, else the latest activity in the data.
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
        customers.email_opens_30d,
        customers.email_clicks_30d,
        customers.order_count,
        customers.last_order_at
    from customers
    cross join as_of
    where
        customers.email_opens_30d + customers.email_clicks_30d >= {{ settings['engaged_min_email_interactions'] }}
        and (
            customers.last_order_at is null
            or customers.last_order_at <= {{ dbt.dateadd('day', -settings['no_purchase_days'], 'as_of.as_of') }}
        )
)

select * from final
