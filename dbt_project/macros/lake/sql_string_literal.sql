{#-
    A value as a SQL string literal, quotes doubled: lake paths come from `$TESSERA_HOME`, and a folder named
    `o'brien` must still be a path, not the end of a string and the start of SQL.
-#}
{% macro sql_string_literal(value) %}
    {{- return("'" ~ (value | string | replace("'", "''")) ~ "'") -}}
{% endmacro %}
