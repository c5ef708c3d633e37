{#-
    New loyalty members: customers whose first loyalty card was enrolled within the last
    `segments.new_member_days` days (a customer holding an older card too is not new). Cards reach
    customers through marts.customer_xref. "Now" is the `as_of` var, else the latest activity in the data.
-#}
{%- set settings = var('segments') -%}

with xref as (
    select * from {{ ref('customer_xref') }}
),

members as (
    select * from {{ ref('stg_pos__loyalty_members') }}
),

as_of as (
    {{ segment_as_of() }}
),

cards as (
    select
        xref.customer_id,
        members.loyalty_id,
        members.enrolled_at,
        row_number() over (
            partition by xref.customer_id
            order by members.enrolled_at asc, members.loyalty_id asc
        ) as card_order
    from members
    inner join xref
        on
            xref.source = 'pos'
            and xref.stream = 'loyalty_members'
            and members.loyalty_id = xref.record_id
    cross join as_of
    where
        members.enrolled_at is not null
        and members.enrolled_at <= as_of.as_of
),

final as (
    select
        cards.customer_id,
        cards.loyalty_id,
        cards.enrolled_at,
        {#- The rendered date difference is long on some engines (hence the noqa). #}
        {{ dbt.datediff('cards.enrolled_at', 'as_of.as_of', 'day') }} as days_since_enrolment  -- noqa: LT05
    from cards
    cross join as_of
    where
        cards.card_order = 1
        and cards.enrolled_at > {{ dbt.dateadd('day', -settings['new_member_days'], 'as_of.as_of') }}
)

select * from final
