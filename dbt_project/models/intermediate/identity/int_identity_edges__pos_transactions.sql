{#-
    A shopper's transactions count as one entity (their loyalty card, else their payment card), so a
    receipt email on many of one shopper's receipts still stitches, while a store's default receipt
    email, typed in for many different shoppers, is recognised as shared.
-#}
{{ edge_model('stg_pos__transactions', 'transaction_id') }}

with transactions as (
    select
        *,
        {{ dbt.concat(["'pos:payer:'", "coalesce(loyalty_id, payment_token, transaction_id)"]) }} as payer_key
    from {{ ref('stg_pos__transactions') }}
    {{ landed_since_last_run() }}
),

edges as (
    {{ identity_edges('transactions', 'pos', 'transactions', 'transaction_id', 'occurred_at', {
        'loyalty_id': 'loyalty_id',
        'payment_token': 'payment_token',
        'email': 'receipt_email_canonical',
        'phone': 'phone_e164',
    }, entity_key='payer_key') }}
)

select * from edges
