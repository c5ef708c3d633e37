{#-
    Incremental staging: a run reads only the batches landed since the previous run and upserts
    their records (`delete+insert` on the model's key), so a daily run costs a day of data.

    `landed_since_last_run()` filters a source to rows of batches that became visible after the newest
    `_visible_at` already in the model. A batch becomes visible when its checks pass or an operator
    releases it (docs/landing-contract.md), and every row carries that time from the lake's source view:
    a re-run batch is checked again, and a held batch released days later is newer than anything read,
    so both are read even though their `_extracted_at` may be older. On a first run or `--full-refresh`
    it filters nothing; on an empty model it reads everything.

    `keep_newer_than_current(relation, key, version_column)` drops a newly landed version that is
    older than the one the model holds (a late copy of an old version), so the model keeps exactly
    the version `latest_versions` would pick over the whole lake: the newest by the record's own
    timestamp; on a tie the later extraction, which is the new row.
-#}
{% macro landed_since_last_run() -%}
    {%- if is_incremental() -%}
        where _visible_at > (
            select coalesce(max(_visible_at), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }}
        )
    {%- endif -%}
{%- endmacro %}

{% macro keep_newer_than_current(relation, key, version_column) %}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where not exists (
        select 1
        from {{ this }} as current_rows
        where current_rows.{{ key }} = {{ relation }}.{{ key }}
            and current_rows.{{ version_column }} is not null
            and (
                {{ relation }}.{{ version_column }} is null
                or current_rows.{{ version_column }} > {{ relation }}.{{ version_column }}
            )
    )
    {%- endif %}
{% endmacro %}
