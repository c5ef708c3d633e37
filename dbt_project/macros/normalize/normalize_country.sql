{#-
    A country as an upper-case ISO 3166-1 alpha-2 code, however the source spelled it
    (`U.S.`, `United Kingdom`, `Deutschland`). Spellings are looked up in the `country_aliases`
    seed (lower-case, without dots or accents); a two-letter value not listed there is taken as
    a code already; anything else is NULL.
-#}
{% macro normalize_country(column) -%}
    {%- set key = 'lower(' ~ collapse_whitespace(strip_accents(dbt.replace(null_if_junk(column, 'any'), "'.'", "''"))) ~ ')' -%}
    (
        select coalesce(
            max(alias.iso2),
            case when {{ regex_matches('max(spelled.spelling)', '^[a-z]{2}$') }} then upper(max(spelled.spelling)) end
        )
        from (select {{ key }} as spelling) as spelled
        left join {{ ref('country_aliases') }} as alias on alias.alias = spelled.spelling
    )
{%- endmacro %}
