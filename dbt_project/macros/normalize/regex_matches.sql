{#- True when the regular expression matches anywhere in the value (anchor it for a full match). -#}
{% macro regex_matches(column, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'tessera')(column, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(column, pattern) -%}
    regexp_matches({{ column }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__regex_matches(column, pattern) -%}
    ({{ column }} ~ '{{ pattern }}')
{%- endmacro %}

{% macro spark__regex_matches(column, pattern) -%}
    ({{ column }} rlike '{{ tessera.spark_regex(pattern) }}')
{%- endmacro %}
