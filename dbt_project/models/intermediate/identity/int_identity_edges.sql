{#-
    The identity graph: the union of one edge model per edge kind. To add a kind of edge (for example
    probabilistic match edges, `identifier_type = 'record'`), write its model with the same columns and
    list it here; merge protection applies to it like to every other edge. Edge models may keep columns of
    their own (the probabilistic model keeps which fit scored a pair); the graph takes the shared ones.

    A view: the edge models are tables already (incremental ones upsert a day's edges), and screening reads
    the graph once, so storing the union again would copy every edge on every run for nothing.
-#}
{{ config(materialized='view') }}
{%- set edge_models = [
    'int_identity_edges__crm_contacts',
    'int_identity_edges__email_subscribers',
    'int_identity_edges__pos_loyalty_members',
    'int_identity_edges__pos_transactions',
    'int_identity_edges__web_visitors',
] -%}
{#- Probabilistic match edges: a Python model (Splink), so DuckDB and Spark; enabled under the same
    condition in _identity__models.yml. The var switches matching off without editing anything. -#}
{%- if target.type in ('duckdb', 'spark') and var('probabilistic_matching', true) -%}
{%- do edge_models.append('int_identity_edges__probabilistic') -%}
{%- endif -%}

{% for edge_model in edge_models %}
select
    record_key,
    source,
    stream,
    record_id,
    identifier_type,
    identifier_value,
    entity_key,
    observed_at,
    match_probability,
    match_detail
from {{ ref(edge_model) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
