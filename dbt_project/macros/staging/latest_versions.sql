{#-
    The latest landed version of each source record: the lake keeps every version, staging keeps the
    newest by the record's own timestamp (a missing timestamp counts as oldest, on every engine),
    then by when and in which batch it landed.
-#}
{% macro latest_versions(relation, key, version_column) %}
    select * from (
        select
            *,
            row_number() over (
                partition by {{ key }}
                order by {{ version_column }} desc nulls last, _extracted_at desc, _batch_id desc
            ) as version_rank
        from {{ relation }}
    ) as versions
    where version_rank = 1
{% endmacro %}
