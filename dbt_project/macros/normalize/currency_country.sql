{#-
    The one country that uses a currency (`GBP` → `GB`), or NULL when several do (`EUR`) or it is
    unknown: a hint for reading national phone numbers on a receipt, from the `countries` seed.
-#}
{% macro currency_country(currency) -%}
    (
        select max(country.iso2)
        from (select upper(trim({{ currency }})) as currency_code) as wanted
        inner join {{ ref('countries') }} as country on country.currency = wanted.currency_code
        having count(*) = 1
    )
{%- endmacro %}
