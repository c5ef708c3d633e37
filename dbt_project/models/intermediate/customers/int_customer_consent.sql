{#-
    Marketing consent per customer: the latest explicit signal wins. Opt-ins: a CRM contact marked
    marketable, an ESP subscription. Opt-outs: a CRM contact marked not marketable, an unsubscribed ESP
    member, an unsubscribe or spam-complaint event. On a tie, the opt-out wins.
    Incremental: a run rebuilds the customers it changed.
-#}
{{ customer_model() }}
-- depends_on: {{ ref('int_customer_changes') }}

with records as (
    select * from {{ ref('int_customer_records') }}
    where {{ is_changed_customer() }}
),

signals as (
    select
        records.customer_id,
        contacts.marketing_opt_in as opted_in,
        contacts.updated_at as signalled_at,
        'crm' as source
    from {{ ref('stg_crm__contacts') }} as contacts
    inner join records on records.stream = 'contacts' and contacts.contact_id = records.record_id
    where contacts.marketing_opt_in is not null

    union all

    select
        records.customer_id,
        subscribers.status = 'subscribed' as opted_in,
        case
            when subscribers.status = 'subscribed'
                then coalesce(subscribers.opted_in_at, subscribers.updated_at)
            else subscribers.updated_at
        end as signalled_at,
        'email' as source
    from {{ ref('stg_email__subscribers') }} as subscribers
    inner join records on records.stream = 'subscribers' and subscribers.subscriber_id = records.record_id
    where subscribers.status in ('subscribed', 'unsubscribed')

    union all

    select
        records.customer_id,
        false as opted_in,
        events.occurred_at as signalled_at,
        'email' as source
    from {{ ref('stg_email__events') }} as events
    inner join records on records.stream = 'subscribers' and events.subscriber_id = records.record_id
    where events.event_type in ('unsubscribe', 'spam_complaint')
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by signalled_at desc nulls last, case when opted_in then 1 else 0 end asc, source asc
        ) as recency
    from signals
),

final as (
    select
        customer_id,
        opted_in as marketing_consent,
        source as marketing_consent_source,
        signalled_at as marketing_consent_at
    from ranked
    where recency = 1
)

select * from final
