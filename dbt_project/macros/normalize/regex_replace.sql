{#-
    Replace every match of a regular expression. Both engines spell it the same, but their regex
    dialects differ (RE2 on DuckDB, ARE on PostgreSQL): patterns passed here stick to the common
    subset (character classes, `[[:space:]]`, quantifiers, anchors; no `\b`).
-#}
{% macro regex_replace(column, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace', 'tessera')(column, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regex_replace(column, pattern, replacement) -%}
    regexp_replace({{ column }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro postgres__regex_replace(column, pattern, replacement) -%}
    regexp_replace({{ column }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}
