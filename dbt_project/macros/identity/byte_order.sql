{#-
    A text expression compared by code point (byte order), whatever the database's collation: the order
    Python's `min` and `sorted` use, so "the smallest record key" is the same key on every engine.
    DuckDB and Spark (its default UTF8_BINARY collation) compare text that way already; PostgreSQL needs
    the "C" collation.
-#}
{% macro byte_order(expression) -%}
    {{ return(adapter.dispatch('byte_order', 'tessera')(expression)) }}
{%- endmacro %}

{% macro default__byte_order(expression) -%}
    {{ expression }}
{%- endmacro %}

{% macro postgres__byte_order(expression) -%}
    ({{ expression }}) collate "C"
{%- endmacro %}
