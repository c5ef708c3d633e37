{{ edge_model('stg_email__subscribers', 'subscriber_id') }}

with subscribers as (
    select * from {{ ref('stg_email__subscribers') }}
    {{ landed_since_last_run() }}
),

edges as (
    {{ identity_edges('subscribers', 'email', 'subscribers', 'subscriber_id', 'updated_at', {
        'esp_subscriber_id': 'subscriber_id',
        'email': 'email_canonical',
    }) }}
)

select * from edges
