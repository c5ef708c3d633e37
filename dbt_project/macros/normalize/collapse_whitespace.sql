{#- Trimmed, with every run of whitespace (tabs, newlines, double spaces) made one space. -#}
{% macro collapse_whitespace(column) -%}
    trim({{ regex_replace(column, '[[:space:]]+', ' ') }})
{%- endmacro %}
