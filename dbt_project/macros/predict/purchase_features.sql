{#-
    The prediction features of every customer as of each moment of `snapshots` (a CTE or relation with one
    column `as_of`, one row per moment): a select of one row per customer and moment. Only activity up to the
    moment counts. Purchases are counted the way buy-till-you-die models count them
    (transforms/predict/rfm.py): several receipts of one customer on one day are one purchase day, whose spend
    is their sum; the first purchase day is left out of the mean spend.

    Shared by `int_customer_purchase_features` (the moment scored) and `int_customer_feature_history` (the
    earlier moments models are trained on), so both count the same way.
-#}
{% macro purchase_features(activity, records, snapshots) -%}
    with known_activity as (
        select
            activity.*,
            as_of.as_of
        from {{ activity }} as activity
        inner join {{ snapshots }} as as_of
            on activity.occurred_at <= as_of.as_of
    ),

    purchase_days as (
        select
            customer_id,
            as_of,
            {{ dbt.date_trunc('day', 'occurred_at') }} as purchase_day,
            min(occurred_at) as first_purchase_at,
            sum(coalesce(amount, 0)) as day_spend
        from known_activity
        where activity = 'purchase'
        group by 1, 2, 3
    ),

    numbered_days as (
        select
            *,
            row_number() over (partition by customer_id, as_of order by purchase_day) as day_number
        from purchase_days
    ),

    purchases as (
        select
            customer_id,
            as_of,
            min(first_purchase_at) as first_purchase_at,
            min(purchase_day) as first_purchase_day,
            max(purchase_day) as last_purchase_day,
            count(*) as purchase_days,
            sum(day_spend) as total_spend,
            sum(case when day_number > 1 then day_spend else 0 end) as repeat_spend
        from numbered_days
        group by 1, 2
    ),

    {#- Aliased `as_of`: `count_recent_activity` reads "now" from `as_of.as_of`, which each row carries. #}
    engagement as (
        select
            as_of.customer_id,
            as_of.as_of,
            min(as_of.occurred_at) as first_seen_at,
            {{ count_recent_activity('as_of', 'email_open', 90) }} as email_opens_90d,
            {{ count_recent_activity('as_of', 'email_click', 90) }} as email_clicks_90d,
            {{ count_recent_activity('as_of', 'web_session', 90) }} as web_sessions_90d
        from known_activity as as_of
        group by 1, 2
    ),

    customers as (
        select
            customer_id,
            count(distinct source) as source_count
        from {{ records }}
        where stream <> 'logins'
        group by 1
    )

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
    cross join {{ snapshots }} as as_of
    left join purchases
        on customers.customer_id = purchases.customer_id and as_of.as_of = purchases.as_of
    left join engagement
        on customers.customer_id = engagement.customer_id and as_of.as_of = engagement.as_of
{%- endmacro %}
