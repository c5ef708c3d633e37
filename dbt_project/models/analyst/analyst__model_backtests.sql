{#- `marts.model_backtests` for analysts (no PII; DuckDB and Spark, like the model). -#}
{{ config(alias='model_backtests', enabled=(target.type in ('duckdb', 'spark'))) }}
{{ masked_select('model_backtests') }}
