{#-
    One row per customer: the surviving profile attributes, consent and behavioural traits. Incremental:
    a run rebuilds the customers it changed (int_customer_changes) and removes those that are gone.
-#}
{{ customer_model() }}
-- depends_on: {{ ref('int_customer_changes') }}
{#-
    The predicted traits (marts.customer_predictions, DuckDB and Spark) move for every buyer each day, not only
    for the customers a run rebuilds: the post-hook brings the other rows' up to date, rounded so that a row
    changes only when its figures change at the precision a segment reads. (On Spark every run rebuilds every row.)
-#}
{%- set predictions = target.type in ('duckdb', 'spark') %}
{%- if predictions %}
{{ config(post_hook="{{ on_incremental_run(refresh_predicted_traits()) }}") }}
{%- endif %}

with lineage as (
    select * from {{ ref('golden_customer_lineage') }}
    where {{ is_changed_customer() }}
),

profile as (
    select
        customer_id,
        max(case when attribute = 'email' then value end) as email,
        max(case when attribute = 'phone' then value end) as phone,
        max(case when attribute = 'first_name' then value end) as first_name,
        max(case when attribute = 'last_name' then value end) as last_name,
        max(case when attribute = 'birth_date' then value end) as birth_date,
        max(case when attribute = 'address' then value end) as address,
        max(case when attribute = 'company' then value end) as company
    from lineage
    group by 1
),

traits as (
    select * from {{ ref('int_customer_traits') }}
    where {{ is_changed_customer() }}
),

consent as (
    select * from {{ ref('int_customer_consent') }}
    where {{ is_changed_customer() }}
),

predictions as (
    {%- if predictions %}
    select
        customer_id,
        {{ predicted_traits() }}
    from {{ ref('customer_predictions') }}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_float() }}) as p_alive,
        cast(null as {{ dbt.type_float() }}) as predicted_clv_365d,
        cast(null as {{ dbt.type_float() }}) as churn_probability_90d,
        cast(null as {{ dbt.type_string() }}) as churn_risk
    where 1 = 0
    {%- endif %}
),

final as (
    select
        traits.customer_id,
        profile.email,
        profile.phone,
        profile.first_name,
        profile.last_name,
        cast(profile.birth_date as date) as birth_date,
        nullif({{ dbt.split_part('profile.address', "' | '", 1) }}, '') as street,
        nullif({{ dbt.split_part('profile.address', "' | '", 2) }}, '') as postcode,
        nullif({{ dbt.split_part('profile.address', "' | '", 3) }}, '') as city,
        nullif({{ dbt.split_part('profile.address', "' | '", 4) }}, '') as country,
        profile.company,
        coalesce(consent.marketing_consent, false) as marketing_consent,
        consent.marketing_consent_source,
        consent.marketing_consent_at,
        traits.sources,
        traits.record_count,
        traits.first_activity_at as first_seen_at,
        traits.last_activity_at as last_seen_at,
        traits.order_count,
        traits.lifetime_value,
        traits.average_order_value,
        traits.last_order_at,
        traits.email_opens_30d,
        traits.email_clicks_30d,
        traits.web_sessions_30d,
        predictions.p_alive,
        predictions.predicted_clv_365d,
        predictions.churn_probability_90d,
        predictions.churn_risk
    from traits
    left join profile on traits.customer_id = profile.customer_id
    left join consent on traits.customer_id = consent.customer_id
    left join predictions on traits.customer_id = predictions.customer_id
)

select * from final
