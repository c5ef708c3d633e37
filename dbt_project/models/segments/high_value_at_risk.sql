{#-
    High-value customers at risk: customers whose lifetime value reaches `segments.vip_lifetime_value` and whose
    predicted churn risk (golden_customers' `churn_risk`, from marts.customer_predictions) is medium or high,
    most valuable first in the marketers' list. Empty on engines without predictions (DuckDB and Spark have them).
-#}
{%- set settings = var('segments') -%}

with customers as (
    select * from {{ ref('golden_customers') }}
),

final as (
    select
        customer_id,
        lifetime_value,
        predicted_clv_365d,
        churn_probability_90d,
        churn_risk,
        last_order_at
    from customers
    where
        lifetime_value >= {{ settings['vip_lifetime_value'] }}
        and churn_risk in ('medium', 'high')
)

select * from final
