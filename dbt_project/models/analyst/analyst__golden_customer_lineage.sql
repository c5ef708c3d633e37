{#- `marts.golden_customer_lineage` for analysts, its PII masked as its YAML tags it (docs/access-control.md). -#}
{{ config(alias='golden_customer_lineage') }}
{{ masked_select('golden_customer_lineage') }}
