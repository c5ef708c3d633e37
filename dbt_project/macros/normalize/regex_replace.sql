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

{#- Spark replaces every match unless told a position, and speaks Java's dialect (`tessera.spark_regex`). -#}
{% macro spark__regex_replace(column, pattern, replacement) -%}
    regexp_replace({{ column }}, '{{ tessera.spark_regex(pattern) }}', '{{ replacement }}')
{%- endmacro %}

{#-
    A pattern of the common subset in Java's dialect, for Spark: Java has no POSIX bracket classes
    (it reads `[[:space:]]` as the characters `:`, `s`, `p`, …), so `[:space:]` becomes `\s` (the same six
    characters), its backslash doubled for Spark's SQL string literals.
-#}
{% macro spark_regex(pattern) -%}
    {{- return(pattern | replace('[:space:]', '\\\\s')) -}}
{%- endmacro %}
