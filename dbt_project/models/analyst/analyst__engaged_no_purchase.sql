{#- `segments.engaged_no_purchase` for analysts, its PII masked as its YAML tags it (docs/access-control.md). -#}
{{ config(alias='engaged_no_purchase') }}
{{ masked_select('engaged_no_purchase') }}
