{#
    The four columns that name a source record in identity resolution: `record_key`
    (`<source>:<stream>:<record_id>`), `source`, `stream` and `record_id`. This is the one place the
    key's format is written: customer ids and the id history are derived from it, so it never changes.
#}
{% macro record_columns(source_name, stream, record_id) -%}
    {{ dbt.concat(["'" ~ source_name ~ ":" ~ stream ~ ":'", record_id]) }} as record_key,
    '{{ source_name }}' as source,
    '{{ stream }}' as stream,
    cast({{ record_id }} as {{ dbt.type_string() }}) as record_id
{%- endmacro %}
