{#-
    "Now" for a segment's rules: the `as_of` var when given, else the latest activity in the golden
    customers (as int_customer_traits does), so a rebuild of old data gives the same members. One row,
    one column `as_of`: use it as a CTE body and cross join it.
-#}
{% macro segment_as_of(customers='customers') -%}
    {% if var('as_of', none) -%}
        select cast('{{ var("as_of") }}' as {{ dbt.type_timestamp() }}) as as_of
    {%- else -%}
        select max(last_seen_at) as as_of from {{ customers }}
    {%- endif %}
{%- endmacro %}
