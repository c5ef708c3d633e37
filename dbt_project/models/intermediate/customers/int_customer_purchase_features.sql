{#-
    The features predictions are scored from, one row per customer, as of one moment: the `as_of` var when
    given, else the latest event landed in the lake (`segment_as_of`, the segments' "now"), so a backtest or a
    rebuild of old data sees only what had happened by then (macros/predict/purchase_features.sql).
    A table, rebuilt whole on each build: every customer's `t_days` moves with `as_of`.
-#}
{{ config(materialized='table') }}

with as_of as (
    {{ segment_as_of() }}
),

features as (
    {{ purchase_features(ref('int_customer_activity'), ref('int_customer_records'), 'as_of') }}
)

select * from features
