{#-
    Models land in the schema their folder names (`staging`, `intermediate`, `marts`), as written,
    instead of dbt's default `<target schema>_<custom schema>`: the warehouse's layout is the same
    on every target, and readers (BI tools, activation) find tables where the docs say they are.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
