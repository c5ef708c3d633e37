{#- `segments.lapsed_vips` for analysts, its PII masked as its YAML tags it (docs/access-control.md). -#}
{{ config(alias='lapsed_vips') }}
{{ masked_select('lapsed_vips') }}
