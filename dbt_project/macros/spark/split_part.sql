{#-
    `dbt.split_part` on Spark: Spark's own `split_part`, which reads the delimiter as text and gives '' for a part
    past the end, as DuckDB and PostgreSQL do. dbt-spark's version splits on a regular expression, escaping only
    the delimiter's first character, so `' | '` (the golden address's separator) split on every character.
-#}
{% macro spark__split_part(string_text, delimiter_text, part_number) -%}
    split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
{%- endmacro %}
