{#-
    The predicted traits golden_customers carries, from marts.customer_predictions, rounded to what a segment
    reads (probabilities to 0.01, money to cents), so a customer's row changes only when those do.
-#}
{% macro predicted_traits() -%}
    cast(round(cast(p_alive as {{ dbt.type_numeric() }}), 2) as {{ dbt.type_float() }}) as p_alive,
    cast(round(cast(predicted_clv_365d as {{ dbt.type_numeric() }}), 2) as {{ dbt.type_float() }}) as predicted_clv_365d,
    cast(round(cast(churn_probability_90d as {{ dbt.type_numeric() }}), 2) as {{ dbt.type_float() }}) as churn_probability_90d,
    churn_risk
{%- endmacro %}

{#-
    Post-hook of golden_customers: the customers the run did not rebuild get today's predicted traits too
    (every buyer's move daily), touching only the rows whose rounded figures changed, and losing them when
    they no longer have a prediction.
-#}
{% macro refresh_predicted_traits() -%}
    update {{ this }} as golden
    set
        p_alive = fresh.p_alive,
        predicted_clv_365d = fresh.predicted_clv_365d,
        churn_probability_90d = fresh.churn_probability_90d,
        churn_risk = fresh.churn_risk
    from (
        select
            customers.customer_id,
            predictions.p_alive,
            predictions.predicted_clv_365d,
            predictions.churn_probability_90d,
            predictions.churn_risk
        from {{ this }} as customers
        left join (
            select
                customer_id,
                {{ predicted_traits() }}
            from {{ ref('customer_predictions') }}
        ) as predictions on customers.customer_id = predictions.customer_id
    ) as fresh
    where
        golden.customer_id = fresh.customer_id
        and (
            golden.p_alive is distinct from fresh.p_alive
            or golden.predicted_clv_365d is distinct from fresh.predicted_clv_365d
            or golden.churn_probability_90d is distinct from fresh.churn_probability_90d
            or golden.churn_risk is distinct from fresh.churn_risk
        )
{%- endmacro %}
