{#-
    Incremental staging: a run reads only the batches landed since the previous run and upserts
    their records (`delete+insert` on the model's key), so a daily run costs a day of data.

    `landed_since_last_run()` filters a source to rows extracted after the newest `_extracted_at`
    already in the model (every row of a batch carries its extraction's time; a re-run batch gets a
    new one, so it is read again). On a first run or `--full-refresh` it filters nothing; on an empty model it reads
    everything.

    `keep_newer_than_current(relation, key, version_column)` drops a newly landed version that is
    older than the one the model holds (a late copy of an old version), so the model keeps exactly
    the version `latest_versions` would pick over the whole lake: the newest by the record's own
    timestamp; on a tie the later extraction, which is the new row.
-#}
{% macro landed_since_last_run() -%}
    {%- if is_incremental() -%}
        where _extracted_at > (
            select coalesce(max(_extracted_at), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }}
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
