{#- `marts.model_backtests` for analysts (no PII; DuckDB only, like the model). -#}
{{ config(alias='model_backtests', enabled=(target.type == 'duckdb')) }}
{{ masked_select('model_backtests') }}
