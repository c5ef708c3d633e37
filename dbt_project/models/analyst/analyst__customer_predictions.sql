{#- `marts.customer_predictions` for analysts (no PII; DuckDB only, like the model). -#}
{{ config(alias='customer_predictions', enabled=(target.type == 'duckdb')) }}
{{ masked_select('customer_predictions') }}
