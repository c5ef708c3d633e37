{#- `marts.customer_merges` for analysts, its PII masked as its YAML tags it (docs/access-control.md). -#}
{{ config(alias='customer_merges') }}
{{ masked_select('customer_merges') }}
