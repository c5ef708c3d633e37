{#-
    Customers marketing must never reach, one row each: their e-mail hard-bounced (the ESP cleaned the
    subscriber), they marked a campaign as spam, or one of their e-mails or phones is on the
    `suppression_list` seed. `reason` lists every reason that applies, comma-separated in alphabetical
    order; `suppressed_at` is the earliest. Suppression is by customer and permanent: a later opt-in does
    not lift it (deleting its seed row lifts a `suppression_list` one). docs/segments.md has the contract.
-#}
with xref as (
    select * from {{ ref('customer_xref') }}
),

subscribers as (
    select * from {{ ref('stg_email__subscribers') }}
),

events as (
    select * from {{ ref('stg_email__events') }}
),

candidates as (
    select * from {{ ref('int_customer_attribute_candidates') }}
),

suppression_list as (
    select * from {{ ref('suppression_list') }}
),

-- A bounce leaves the member `bounced` (soft) or `cleaned` (hard): the ESP stops mailing a cleaned address.
-- Its hard bounce is the latest bounce event, else (cleaned before the events we hold) the status change.
hard_bounces as (
    select
        subscribers.subscriber_id,
        'hard_bounce' as reason,
        coalesce(max(events.occurred_at), subscribers.updated_at) as suppressed_at
    from subscribers
    left join events
        on
            subscribers.subscriber_id = events.subscriber_id
            and events.event_type = 'bounce'
    where subscribers.status = 'cleaned'
    group by subscribers.subscriber_id, subscribers.updated_at
),

spam_complaints as (
    select
        subscriber_id,
        'spam_complaint' as reason,
        min(occurred_at) as suppressed_at
    from events
    where event_type = 'spam_complaint'
    group by subscriber_id
),

esp_reasons as (
    select * from hard_bounces
    union all
    select * from spam_complaints
),

esp_customers as (
    select
        xref.customer_id,
        esp_reasons.reason,
        esp_reasons.suppressed_at
    from esp_reasons
    inner join xref
        on
            xref.source = 'email'
            and xref.stream = 'subscribers'
            and esp_reasons.subscriber_id = xref.record_id
),

-- Listed values read like the data: e-mails normalised, then folded as matching folds them (case, spaces,
-- `+tags`, Gmail dots); phones in E.164 (so they are written internationally, `+44 …`).
listed_normalised as (
    select
        identifier_type,
        case when identifier_type = 'email' then {{ normalize_email('identifier') }} end as email,
        case when identifier_type = 'phone' then {{ normalize_phone('identifier') }} end as phone,
        added_at
    from suppression_list
),

listed as (
    select
        identifier_type,
        case
            when identifier_type = 'email' then {{ canonical_email('email') }}
            else phone
        end as identifier,
        added_at
    from listed_normalised
),

customer_identifiers as (
    select distinct
        customer_id,
        attribute as identifier_type,
        case
            when attribute = 'email' then {{ canonical_email('value') }}
            else value
        end as identifier
    from candidates
    where attribute in ('email', 'phone')
),

listed_customers as (
    select
        customer_identifiers.customer_id,
        'suppression_list' as reason,
        listed.added_at as suppressed_at
    from listed
    inner join customer_identifiers
        on
            listed.identifier_type = customer_identifiers.identifier_type
            and listed.identifier = customer_identifiers.identifier
),

reasons as (
    select
        customer_id,
        reason,
        min(suppressed_at) as suppressed_at
    from (
        select * from esp_customers
        union all
        select * from listed_customers
    ) as all_reasons
    group by customer_id, reason
),

final as (
    select
        customer_id,
        {{ dbt.listagg('reason', "','", "order by reason") }} as reason,
        min(suppressed_at) as suppressed_at
    from reasons
    group by customer_id
)

select * from final
