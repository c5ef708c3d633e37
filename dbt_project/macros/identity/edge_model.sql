{#-
    The configuration of a source's identity edge model: incremental, keyed by record. A run reads the staging
    rows that became visible since the edges it holds (`landed_since_last_run`) and replaces every edge of
    those records; the post-hook deletes the edges of records gone from staging (an archived CRM contact).
    Call it at the top of the model: `{{ edge_model('stg_crm__contacts', 'contact_id') }}`.
-#}
{% macro edge_model(staged_model, record_id=none) -%}
    {{ config(
        materialized=incremental_by_key(),
        incremental_strategy='delete+insert',
        unique_key='record_key',
        on_schema_change='fail',
        post_hook=("{{ delete_edges_of_removed_records('" ~ staged_model ~ "', '" ~ record_id ~ "') }}") if record_id else [],
    ) }}
{%- endmacro %}

{% macro delete_edges_of_removed_records(staged_model, record_id) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where not exists (
            select 1 from {{ ref(staged_model) }} as staged
            where cast(staged.{{ record_id }} as {{ dbt.type_string() }}) = {{ this }}.record_id
        )
    {%- endif -%}
{%- endmacro %}
