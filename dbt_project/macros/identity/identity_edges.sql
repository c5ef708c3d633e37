{#
    One identity edge per (record, identifier type, identifier value) of a relation.

    identifiers: identifier type -> column expression, e.g. {'email': 'email_canonical'}
    entity_key:  what counts as one entity when deciding whether a value is shared
                 (defaults to the record itself)
    `_visible_at` is the newest staging row behind the edge: incremental edge models read what came after it.
#}
{% macro identity_edges(relation, source_name, stream, record_id, observed_at, identifiers, entity_key=none) %}
    {%- for identifier_type, expression in identifiers.items() %}
    select
        {{ record_columns(source_name, stream, record_id) }},
        '{{ identifier_type }}' as identifier_type,
        cast({{ expression }} as {{ dbt.type_string() }}) as identifier_value,
        cast({{ entity_key if entity_key else 'null' }} as {{ dbt.type_string() }}) as entity_key,
        max({{ observed_at }}) as observed_at,
        cast(null as {{ dbt.type_float() }}) as match_probability,
        cast(null as {{ dbt.type_string() }}) as match_detail,
        max(_visible_at) as _visible_at
    from {{ relation }}
    where {{ expression }} is not null and {{ record_id }} is not null
    group by 1, 2, 3, 4, 5, 6, 7
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{% endmacro %}
