{#-
    "Now" for counts such as "opens in the last 30 days" and for segment rules: the `as_of` var when given,
    else the time of the latest event landed in the lake (a receipt, an e-mail event or a web event), never
    the wall clock, so a rebuild of old data or a backfill gives the same answer. One row, one column
    `as_of`: use it as a CTE body and cross join it.
-#}
{% macro activity_as_of() -%}
    {% if var('as_of', none) -%}
        select cast('{{ var("as_of") }}' as {{ dbt.type_timestamp() }}) as as_of
    {%- else -%}
        select max(occurred_at) as as_of
        from (
            select max(occurred_at) as occurred_at from {{ ref('stg_pos__transactions') }}
            union all
            select max(occurred_at) as occurred_at from {{ ref('stg_email__events') }}
            union all
            select max(occurred_at) as occurred_at from {{ ref('stg_web__events') }}
        ) as latest
    {%- endif %}
{%- endmacro %}
