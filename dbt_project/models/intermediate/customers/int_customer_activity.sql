{#-
    Everything a customer did, one row per event, attributed through the identity graph: purchases,
    email events (via their subscriber) and web events (via their visitor, else their logged-in user).
    Incremental: a run rebuilds the events of the customers it changed (int_customer_changes).
-#}
{{ customer_model() }}
-- depends_on: {{ ref('int_customer_changes') }}

with records as (
    select * from {{ ref('int_customer_records') }}
),

changed_records as (
    select * from records
    where {{ is_changed_customer() }}
),

{#- The browsers whose events may belong to a changed customer: theirs, or used by one of their contacts. #}
{% if is_incremental() %}
changed_browsers as (
    select record_id as anonymous_id
    from changed_records
    where stream = 'visitors'

    union

    select events.anonymous_id
    from {{ ref('stg_web__events') }} as events
    inner join changed_records
        on changed_records.stream = 'contacts' and events.user_id = changed_records.record_id
    where events.anonymous_id is not null
),
{% endif %}

transactions as (
    select
        records.customer_id,
        'purchase' as activity,
        tx.occurred_at,
        tx.total_amount as amount,
        cast(null as {{ dbt.type_string() }}) as session_key
    from {{ ref('stg_pos__transactions') }} as tx
    inner join changed_records as records
        on records.stream = 'transactions' and tx.transaction_id = records.record_id
),

email_events as (
    select
        records.customer_id,
        {{ dbt.concat(["'email_'", "ev.event_type"]) }} as activity,
        ev.occurred_at,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_string() }}) as session_key
    from {{ ref('stg_email__events') }} as ev
    inner join changed_records as records
        on records.stream = 'subscribers' and ev.subscriber_id = records.record_id
),

web_gaps as (
    select
        *,
        {#- The rendered date difference is long on some engines (hence the noqa). #}
        {{ dbt.datediff('previous_at', 'occurred_at', 'minute') }} as minutes_since_previous  -- noqa: LT05
    from (
        select
            anonymous_id,
            user_id,
            occurred_at,
            lag(occurred_at) over (partition by anonymous_id order by occurred_at) as previous_at
        from {{ ref('stg_web__events') }}
        where anonymous_id is not null
        {% if is_incremental() %}
            and anonymous_id in (select anonymous_id from changed_browsers)
        {% endif %}
    ) as ordered
),

web_sessions as (
    select
        *,
        case when previous_at is null or minutes_since_previous > 30 then 1 else 0 end as starts_session
    from web_gaps
),

web_events as (
    select
        coalesce(visitor.customer_id, login.customer_id) as customer_id,
        case when web_sessions.starts_session = 1 then 'web_session' else 'web_event' end as activity,
        web_sessions.occurred_at,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        web_sessions.anonymous_id as session_key
    from web_sessions
    left join records as visitor
        on visitor.stream = 'visitors' and web_sessions.anonymous_id = visitor.record_id
    left join records as login
        on login.stream = 'contacts' and web_sessions.user_id = login.record_id
    where
        coalesce(visitor.customer_id, login.customer_id) is not null
        and {{ is_changed_customer('coalesce(visitor.customer_id, login.customer_id)') }}
),

final as (
    select * from transactions
    union all
    select * from email_events
    union all
    select * from web_events
)

select * from final
