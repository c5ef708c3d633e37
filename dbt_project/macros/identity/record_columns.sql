{#
    The four columns that name a source record in identity resolution: `record_key`
    (`<source>:<stream>:<record_id>`), `source`, `stream` and `record_id`. This is the one place the
    key's format is written: customer ids and the id history are derived from it, so it never changes.
#}
{% macro record_columns(source_name, stream, record_id) -%}
    {{ record_key(source_name, stream, record_id) }} as record_key,
    '{{ source_name }}' as source,
    '{{ stream }}' as stream,
    cast({{ record_id }} as {{ dbt.type_string() }}) as record_id
{%- endmacro %}

{#- The record key alone, for SQL that needs it outside `record_columns`. #}
{% macro record_key(source_name, stream, record_id) -%}
    {{ dbt.concat(["'" ~ source_name ~ ":" ~ stream ~ ":'", record_id]) }}
{%- endmacro %}

{#- In int_profile_records: a stream's staging rows that became visible after the newest the model holds of it. #}
{% macro profile_records_since_last_run(source_name, stream) -%}
    {%- if is_incremental() -%}
        where _visible_at > (
            select coalesce(max(_visible_at), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }}
            where source = '{{ source_name }}' and stream = '{{ stream }}'
        )
    {%- endif -%}
{%- endmacro %}

{#- Post-hook of int_profile_records: delete the records no longer in staging (an archived CRM contact). #}
{% macro delete_profile_records_gone_from_staging() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where record_key not in (
            {%- for source_name, stream, model, record_id in [
                ('crm', 'contacts', 'stg_crm__contacts', 'contact_id'),
                ('email', 'subscribers', 'stg_email__subscribers', 'subscriber_id'),
                ('pos', 'loyalty_members', 'stg_pos__loyalty_members', 'loyalty_id'),
            ] %}
            select {{ record_key(source_name, stream, record_id) }} from {{ ref(model) }}
            {% if not loop.last %}union all{% endif %}
            {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}
