{#- `marts.customer_xref` for analysts, its PII masked as its YAML tags it (docs/access-control.md). -#}
{{ config(alias='customer_xref') }}
{{ masked_select('customer_xref') }}
