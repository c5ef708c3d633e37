with subscribers as (
    select * from {{ ref('stg_email__subscribers') }}
),

edges as (
    {{ identity_edges('subscribers', 'email', 'subscribers', 'subscriber_id', 'updated_at', {
        'esp_subscriber_id': 'subscriber_id',
        'email': 'email_canonical',
    }) }}
)

select * from edges
