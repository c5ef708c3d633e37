{#-
    Two kinds of web record:
    - a visitor (one per anonymous_id), carrying its anonymous_id;
    - a login (one per anonymous_id and person who identified on it: user_id, else identify email),
      carrying the anonymous_id and who logged in.
    A login's anonymous_id counts the person as the entity, so a family laptop on which two people log
    in is seen as shared: each login joins its own person, and the anonymous browsing stays unattributed.
    Incremental: a run rebuilds the records of every browser with an event landed since the last run.
-#}
{{ edge_model('stg_web__events') }}

with events as (
    select * from {{ ref('stg_web__events') }}
    where anonymous_id is not null
    {% if is_incremental() %}
        and anonymous_id in (
            select anonymous_id from {{ ref('stg_web__events') }}
            {{ landed_since_last_run() }}
        )
    {% endif %}
),

logins as (
    select
        anonymous_id,
        user_id,
        email_canonical,
        occurred_at,
        _visible_at,
        coalesce(user_id, email_canonical) as who,
        {{ dbt.concat(["anonymous_id", "'|'", "coalesce(user_id, email_canonical)"]) }} as login_id,
        {{ dbt.concat(["'web:person:'", "coalesce(user_id, email_canonical)"]) }} as person_key
    from events
    where user_id is not null or email_canonical is not null
),

visitor_edges as (
    {{ identity_edges('events', 'web', 'visitors', 'anonymous_id', 'occurred_at', {
        'anonymous_id': 'anonymous_id',
    }) }}
),

login_edges as (
    {{ identity_edges('logins', 'web', 'logins', 'login_id', 'occurred_at', {
        'anonymous_id': 'anonymous_id',
        'crm_contact_id': 'user_id',
        'email': 'email_canonical',
    }, entity_key='person_key') }}
),

final as (
    select * from visitor_edges
    union all
    select * from login_edges
)

select * from final
