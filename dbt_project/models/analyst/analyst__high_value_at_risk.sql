{#- `segments.high_value_at_risk` for analysts, its PII masked as its YAML tags it (docs/access-control.md). -#}
{{ config(alias='high_value_at_risk') }}
{{ masked_select('high_value_at_risk') }}
