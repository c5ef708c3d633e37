{#-
    Every explicit marketing-consent signal of every customer, one row per signal: a CRM contact's
    marketing flag (as of its `updated_at`), an ESP member's subscription or unsubscription, and each
    unsubscribe or spam-complaint event. `is_current` marks the signal the customer's consent comes from
    (int_customer_consent, golden_customers): the latest; on a tie the opt-out wins, then the source name
    decides. So an opt-out from any source wins over every older opt-in, and a newer opt-in wins over it.
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
        records.source,
        records.record_key,
        records.record_key as signal_key,
        'marketing_opt_in' as signal,
        contacts.marketing_opt_in as opted_in,
        contacts.updated_at as signalled_at
    from {{ ref('stg_crm__contacts') }} as contacts
    inner join records on records.stream = 'contacts' and contacts.contact_id = records.record_id
    where contacts.marketing_opt_in is not null

    union all

    select
        records.customer_id,
        records.source,
        records.record_key,
        records.record_key as signal_key,
        'subscription_status' as signal,
        subscribers.status = 'subscribed' as opted_in,
        case
            when subscribers.status = 'subscribed'
                then coalesce(subscribers.opted_in_at, subscribers.updated_at)
            else subscribers.updated_at
        end as signalled_at
    from {{ ref('stg_email__subscribers') }} as subscribers
    inner join records on records.stream = 'subscribers' and subscribers.subscriber_id = records.record_id
    where subscribers.status in ('subscribed', 'unsubscribed')

    union all

    select
        records.customer_id,
        records.source,
        records.record_key,
        'email:events:' || events.event_id as signal_key,
        events.event_type as signal,
        false as opted_in,
        events.occurred_at as signalled_at
    from {{ ref('stg_email__events') }} as events
    inner join records on records.stream = 'subscribers' and events.subscriber_id = records.record_id
    where events.event_type in ('unsubscribe', 'spam_complaint')
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by
                signalled_at desc nulls last,
                case when opted_in then 1 else 0 end asc,
                source asc,
                {{ byte_order('signal_key') }} asc
        ) as recency
    from signals
),

final as (
    select
        customer_id,
        source,
        record_key,
        signal_key,
        signal,
        opted_in,
        signalled_at,
        recency = 1 as is_current
    from ranked
)

select * from final
