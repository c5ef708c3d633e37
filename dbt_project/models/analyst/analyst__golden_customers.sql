{#- `marts.golden_customers` for analysts, its PII masked as its YAML tags it (docs/access-control.md). -#}
{{ config(alias='golden_customers') }}
{{ masked_select('golden_customers') }}
