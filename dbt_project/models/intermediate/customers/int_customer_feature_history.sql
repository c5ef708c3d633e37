{#-
    What the prediction models are trained and backtested on: each customer's features at earlier moments,
    with what they went on to do. The moments are the ends of the days 90, 180, … (`prediction_snapshots` of
    them) before the day of "now" (`segment_as_of`);
    `purchase_days_next` and `spend_next` count the purchase days, and their spend, in the window that follows
    each moment (the next moment's day excluded, "now"'s day included). Same-day receipts are one purchase day,
    as in the features (macros/predict/purchase_features.sql).
-#}
{{ config(materialized='table') }}
{#- 90 days: the window `customer_predictions` names its columns after (churn_probability_90d, …). #}
{%- set window_days = 90 -%}
{%- set moments = var('prediction_snapshots') | int %}

with latest as (
    {{ segment_as_of() }}
),

moments as (
    {%- for k in range(1, moments + 1) %}
    select
        {{ k }} as snapshot_number,
        {{ dbt.dateadd('second', -1, dbt.dateadd('day', 1 - k * window_days, dbt.date_trunc('day', 'latest.as_of'))) }} as as_of  -- noqa: LT05
    from latest
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

features as (
    {{ purchase_features(ref('int_customer_activity'), ref('int_customer_records'), 'moments') }}
),

purchase_days as (
    select
        customer_id,
        {{ dbt.date_trunc('day', 'occurred_at') }} as purchase_day,
        min(occurred_at) as first_purchase_at,
        sum(coalesce(amount, 0)) as day_spend
    from {{ ref('int_customer_activity') }}
    where activity = 'purchase'
    group by 1, 2
),

outcomes as (
    select
        moments.as_of,
        purchase_days.customer_id,
        count(*) as purchase_days_next,
        sum(purchase_days.day_spend) as spend_next
    from moments
    inner join purchase_days
        on
            moments.as_of < purchase_days.first_purchase_at
            and {{ dbt.dateadd('day', window_days, 'moments.as_of') }} >= purchase_days.first_purchase_at
    group by 1, 2
)

select
    moments.snapshot_number,
    features.*,
    cast(coalesce(outcomes.purchase_days_next, 0) as {{ dbt.type_int() }}) as purchase_days_next,
    coalesce(outcomes.spend_next, 0) as spend_next,
    {{ window_days }} as window_days
from features
inner join moments on features.as_of = moments.as_of
left join outcomes
    on features.customer_id = outcomes.customer_id and features.as_of = outcomes.as_of
