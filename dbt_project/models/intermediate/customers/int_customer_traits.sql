{#-
    Behavioural traits per customer. "Last 30 days" counts back from the `as_of` var when given, else
    from the latest event in the lake (`activity_as_of`), so a rebuild of old data gives the same answer.
    Incremental: a run rebuilds the customers it changed, and those with an event that left the window.
-#}
{{ customer_model() }}
-- depends_on: {{ ref('int_customer_changes') }}

with activity as (
    select * from {{ ref('int_customer_activity') }}
    where {{ is_changed_customer() }}
),

records as (
    select * from {{ ref('int_customer_records') }}
    where {{ is_changed_customer() }}
),

as_of as (
    {{ activity_as_of() }}
),

behaviour as (
    select
        activity.customer_id,
        min(activity.occurred_at) as first_activity_at,
        max(activity.occurred_at) as last_activity_at,
        sum(case when activity.activity = 'purchase' then 1 else 0 end) as order_count,
        sum(case when activity.activity = 'purchase' then activity.amount end) as lifetime_value,
        max(case when activity.activity = 'purchase' then activity.occurred_at end) as last_order_at,
        {{ count_recent_activity('activity', 'email_open', 30) }} as email_opens_30d,
        {{ count_recent_activity('activity', 'email_click', 30) }} as email_clicks_30d,
        {{ count_recent_activity('activity', 'web_session', 30) }} as web_sessions_30d
    from activity
    cross join as_of
    group by 1
),

sources_present as (
    select
        customer_id,
        {{ dbt.listagg('source', "','", "order by source") }} as sources,
        sum(record_count) as record_count
    from (
        select
            customer_id,
            source,
            count(*) as record_count
        from records
        where stream <> 'logins'
        group by 1, 2
    ) as per_source
    group by 1
),

final as (
    select
        sources_present.customer_id,
        sources_present.sources,
        sources_present.record_count,
        behaviour.first_activity_at,
        behaviour.last_activity_at,
        coalesce(behaviour.order_count, 0) as order_count,
        coalesce(behaviour.lifetime_value, 0) as lifetime_value,
        case when behaviour.order_count > 0 then behaviour.lifetime_value / behaviour.order_count end
            as average_order_value,
        behaviour.last_order_at,
        coalesce(behaviour.email_opens_30d, 0) as email_opens_30d,
        coalesce(behaviour.email_clicks_30d, 0) as email_clicks_30d,
        coalesce(behaviour.web_sessions_30d, 0) as web_sessions_30d
    from sources_present
    left join behaviour on sources_present.customer_id = behaviour.customer_id
)

select * from final
