{{ edge_model('stg_pos__loyalty_members', 'loyalty_id') }}

with members as (
    select * from {{ ref('stg_pos__loyalty_members') }}
    {{ landed_since_last_run() }}
),

edges as (
    {{ identity_edges('members', 'pos', 'loyalty_members', 'loyalty_id', 'updated_at', {
        'loyalty_id': 'loyalty_id',
        'email': 'email_canonical',
        'phone': 'phone_e164',
    }) }}
)

select * from edges
