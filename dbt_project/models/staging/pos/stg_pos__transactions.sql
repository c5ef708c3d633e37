{#-
    One row per till receipt, with whatever identifies the shopper cleaned for matching. A phone
    number given at the till is read in the country of the store's currency when only one
    country uses it (`countries` seed); otherwise only international numbers are understood.
-#}
{{ config(unique_key='transaction_id') }}

with source as (
    select * from {{ source('pos', 'transactions') }}
    {{ landed_since_last_run() }}
),

unique_transactions as (
    {{ latest_versions('source', 'transaction_id', 'occurred_at') }}
),

normalised as (
    select
        cast(transaction_id as {{ dbt.type_string() }}) as transaction_id,
        store_id,
        nullif(trim(loyalty_id), '') as loyalty_id,
        nullif(trim(payment_token), '') as payment_token,
        {{ normalize_email('receipt_email') }} as receipt_email,
        phone,
        {{ normalize_phone('phone', currency_country('currency')) }} as phone_e164,
        total_amount,
        upper(trim(currency)) as currency,
        item_count,
        occurred_at,
        _batch_id,
        _extracted_at,
        _visible_at
    from unique_transactions
),

final as (
    select
        transaction_id,
        store_id,
        loyalty_id,
        payment_token,
        receipt_email,
        {{ canonical_email('receipt_email') }} as receipt_email_canonical,
        phone,
        phone_e164,
        total_amount,
        currency,
        item_count,
        occurred_at,
        _batch_id,
        _extracted_at,
        _visible_at
    from normalised
)

{{ keep_newer_than_current('final', 'transaction_id', 'occurred_at') }}
