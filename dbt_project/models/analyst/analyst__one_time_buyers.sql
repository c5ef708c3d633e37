{#- `segments.one_time_buyers` for analysts, its PII masked as its YAML tags it (docs/access-control.md). -#}
{{ config(alias='one_time_buyers') }}
{{ masked_select('one_time_buyers') }}
