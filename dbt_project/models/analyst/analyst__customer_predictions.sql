{#- `marts.customer_predictions` for analysts (no PII; DuckDB and Spark, like the model). -#}
{{ config(alias='customer_predictions', enabled=(target.type in ('duckdb', 'spark'))) }}
{{ masked_select('customer_predictions') }}
