{#-
    The display version of a free-text value (a name, a street, a city): as the person wrote it,
    case included, minus surrounding and repeated whitespace, and NULL for placeholders
    (`junk_values`, rows for `kind` or `any`).
-#}
{% macro clean_text(column, kind='any') -%}
    nullif({{ collapse_whitespace(null_if_junk(column, kind)) }}, '')
{%- endmacro %}
