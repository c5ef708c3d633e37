{#-
    The SHA-256 of a value's text, as lower-case hex: the pseudonym analysts count and join on in place of an
    e-mail (the same digest ad platforms match on, for a normalised address). DuckDB has `sha256()`;
    PostgreSQL hashes bytes, so the text is encoded as UTF-8 first; Spark has `sha2(…, 256)` over UTF-8 too. NULL stays
    NULL on all three.
-#}
{% macro sha256_hex(expression) -%}
    {{ return(adapter.dispatch('sha256_hex', 'tessera')(expression)) }}
{%- endmacro %}

{% macro default__sha256_hex(expression) -%}
    encode(sha256(convert_to(cast({{ expression }} as varchar), 'UTF8')), 'hex')
{%- endmacro %}

{% macro duckdb__sha256_hex(expression) -%}
    sha256(cast({{ expression }} as varchar))
{%- endmacro %}

{% macro spark__sha256_hex(expression) -%}
    sha2(cast({{ expression }} as string), 256)
{%- endmacro %}
