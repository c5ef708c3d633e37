{#-
    `dbt.listagg` on Spark: Spark's own `listagg … within group (order by …)`, so an ordered list (a golden
    customer's `sources`, a suppression's reasons) reads the same as on DuckDB and PostgreSQL. dbt-spark's
    version drops the order (`collect_list`, in whatever order the rows arrive).
-#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        {{ exceptions.raise_compiler_error("listagg with limit_num: not supported on Spark by this project") }}
    {%- endif -%}
    listagg({{ measure }}, {{ delimiter_text }}){% if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
{%- endmacro %}
