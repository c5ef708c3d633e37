{#-
    The features predictions are scored from, one row per customer, as of one moment: the `as_of` var when
    given, else the latest event landed in the lake (`segment_as_of`, the segments' "now"), so a backtest or a
    rebuild of old data sees only what had happened by then. Purchases are counted the way buy-till-you-die
    models count them (transforms/predict/rfm.py): several receipts of one customer on one day are one
    purchase day, whose spend is their sum; the first purchase day is left out of the mean spend.
    A table, rebuilt whole on each build: every customer's `t_days` moves with `as_of`.
-#}
{{ config(materialized='table') }}

with activity as (
    select * from {{ ref('int_customer_activity') }}
),

records as (
    select * from {{ ref('int_customer_records') }}
),

as_of as (
    {{ segment_as_of() }}
),

known_activity as (
    select activity.*
    from activity
    cross join as_of
    where activity.occurred_at <= as_of.as_of
),

purchase_days as (
    select
        customer_id,
        {{ dbt.date_trunc('day', 'occurred_at') }} as purchase_day,
        min(occurred_at) as first_purchase_at,
        sum(coalesce(amount, 0)) as day_spend
    from known_activity
    where activity = 'purchase'
    group by 1, 2
),

numbered_days as (
    select
        *,
        row_number() over (partition by customer_id order by purchase_day) as day_number
    from purchase_days
),

purchases as (
    select
        customer_id,
        min(first_purchase_at) as first_purchase_at,
        min(purchase_day) as first_purchase_day,
        max(purchase_day) as last_purchase_day,
        count(*) as purchase_days,
        sum(day_spend) as total_spend,
        sum(case when day_number > 1 then day_spend else 0 end) as repeat_spend
    from numbered_days
    group by 1
),

engagement as (
    select
        known_activity.customer_id,
        min(known_activity.occurred_at) as first_seen_at,
        {{ count_recent_activity('known_activity', 'email_open', 90) }} as email_opens_90d,
        {{ count_recent_activity('known_activity', 'email_click', 90) }} as email_clicks_90d,
        {{ count_recent_activity('known_activity', 'web_session', 90) }} as web_sessions_90d
    from known_activity
    cross join as_of
    group by 1
),

customers as (
    select
        customer_id,
        count(distinct source) as source_count
    from records
    where stream <> 'logins'
    group by 1
),

final as (
    {#- The rendered date differences are long on some engines (hence the noqa). #}
    select
        customers.customer_id,
        purchases.first_purchase_at,
        cast(coalesce(purchases.purchase_days, 0) as {{ dbt.type_int() }}) as purchase_days,
        cast(purchases.purchase_days - 1 as {{ dbt.type_int() }}) as frequency,
        {{ dbt.datediff('purchases.first_purchase_day', 'purchases.last_purchase_day', 'day') }} as recency_days,  -- noqa: LT05
        {{ dbt.datediff('purchases.first_purchase_day', 'as_of.as_of', 'day') }} as t_days,  -- noqa: LT05
        cast(
            case
                when purchases.purchase_days > 1 then purchases.repeat_spend / (purchases.purchase_days - 1)
                when purchases.purchase_days = 1 then 0
            end as {{ dbt.type_float() }}
        ) as monetary_value,
        coalesce(purchases.total_spend, 0) as total_spend,
        {{ dbt.datediff('engagement.first_seen_at', 'as_of.as_of', 'day') }} as tenure_days,  -- noqa: LT05
        cast(coalesce(engagement.email_opens_90d, 0) as {{ dbt.type_int() }}) as email_opens_90d,
        cast(coalesce(engagement.email_clicks_90d, 0) as {{ dbt.type_int() }}) as email_clicks_90d,
        cast(coalesce(engagement.web_sessions_90d, 0) as {{ dbt.type_int() }}) as web_sessions_90d,
        cast(customers.source_count as {{ dbt.type_int() }}) as source_count,
        as_of.as_of
    from customers
    cross join as_of
    left join purchases on customers.customer_id = purchases.customer_id
    left join engagement on customers.customer_id = engagement.customer_id
)

select * from final
