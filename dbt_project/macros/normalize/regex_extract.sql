{#- The text captured by group `group` of the first match, or NULL when the value does not match. -#}
{% macro regex_extract(column, pattern, group=1) -%}
    {{ return(adapter.dispatch('regex_extract', 'tessera')(column, pattern, group)) }}
{%- endmacro %}

{% macro default__regex_extract(column, pattern, group=1) -%}
    nullif(regexp_extract({{ column }}, '{{ pattern }}', {{ group }}), '')
{%- endmacro %}

{% macro postgres__regex_extract(column, pattern, group=1) -%}
    (regexp_match({{ column }}, '{{ pattern }}'))[{{ group }}]
{%- endmacro %}

{% macro spark__regex_extract(column, pattern, group=1) -%}
    nullif(regexp_extract({{ column }}, '{{ tessera.spark_regex(pattern) }}', {{ group }}), '')
{%- endmacro %}
