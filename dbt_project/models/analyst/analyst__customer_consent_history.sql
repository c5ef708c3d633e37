{#- `intermediate.int_customer_consent_history` for analysts: every consent signal per customer and source. -#}
{{ config(alias='customer_consent_history') }}
{{ masked_select('int_customer_consent_history') }}
