{#-
    The ISO-2 region an E.164 number belongs to (`+447700900123` → `GB`): where a person lives when
    the source did not say. A calling code shared by several countries (+1) gives its main one.
    DuckDB and Spark ask libphonenumber (`tessera_phone_region`), which also tells the regions inside a
    shared code apart; other engines (PostgreSQL) take the longest calling code in the `countries`
    seed that is marked `main_for_calling_code`.
-#}
{% macro phone_country(e164) -%}
    {{ return(adapter.dispatch('phone_country', 'tessera')(e164)) }}
{%- endmacro %}

{% macro duckdb__phone_country(e164) -%}
    tessera_phone_region({{ e164 }})
{%- endmacro %}

{% macro default__phone_country(e164) -%}
    (
        select country.iso2
        from (select {{ e164 }} as e164) as number
        inner join {{ ref('countries') }} as country
            on substr(number.e164, 1, length(country.calling_code) + 1) = {{ dbt.concat(["'+'", 'country.calling_code']) }}
        where country.main_for_calling_code
        order by length(country.calling_code) desc
        limit 1
    )
{%- endmacro %}

{% macro postgres__phone_country(e164) -%}
    {{ tessera.default__phone_country(e164) }}
{%- endmacro %}

{% macro spark__phone_country(e164) -%}
    {{ tessera.duckdb__phone_country(e164) }}
{%- endmacro %}
