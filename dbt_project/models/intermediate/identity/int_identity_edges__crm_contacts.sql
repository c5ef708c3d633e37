{{ edge_model('stg_crm__contacts', 'contact_id') }}

with contacts as (
    select * from {{ ref('stg_crm__contacts') }}
    {{ landed_since_last_run() }}
),

edges as (
    {{ identity_edges('contacts', 'crm', 'contacts', 'contact_id', 'updated_at', {
        'crm_contact_id': 'contact_id',
        'email': 'email_canonical',
        'phone': 'phone_e164',
    }) }}
)

select * from edges
