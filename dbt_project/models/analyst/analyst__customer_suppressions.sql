{#- `marts.customer_suppressions` for analysts, its PII masked as its YAML tags it (docs/access-control.md). -#}
{{ config(alias='customer_suppressions') }}
{{ masked_select('customer_suppressions') }}
