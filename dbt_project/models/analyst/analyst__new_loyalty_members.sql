{#- `segments.new_loyalty_members` for analysts, its PII masked as its YAML tags it (docs/access-control.md). -#}
{{ config(alias='new_loyalty_members') }}
{{ masked_select('new_loyalty_members') }}
