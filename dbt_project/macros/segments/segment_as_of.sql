{#-
    "Now" for a segment's rules: the same "now" as the customers' traits (`activity_as_of`: the `as_of` var
    when given, else the latest event in the lake), so a rebuild of old data gives the same members. One
    row, one column `as_of`: use it as a CTE body and cross join it.
-#}
{% macro segment_as_of() -%}
    {{ activity_as_of() }}
{%- endmacro %}
