{#-
    A phone number in E.164 (`+447700900123`), or NULL when it is junk or cannot be read.
    default_country: an SQL expression giving the ISO-2 region in which a national number
    (`07700 900123`) is read; numbers written internationally (`+44 …`, `0044 …`) need none.

    DuckDB and Spark call `tessera_phone_e164` (transforms/enrichment/phone_numbers.py, libphonenumber), which knows
    every country's numbering plan. Other engines (PostgreSQL) use an approximation: keep the
    digits, read `+`/`00` as international, otherwise drop the country's trunk prefix and prepend
    its calling code (both from the `countries` seed), and accept 7 to 15 digits. It does not check
    numbering plans, so it keeps some numbers libphonenumber would reject.
-#}
{% macro normalize_phone(column, default_country=none) -%}
    {{ return(adapter.dispatch('normalize_phone', 'tessera')(column, default_country)) }}
{%- endmacro %}

{% macro duckdb__normalize_phone(column, default_country=none) -%}
    tessera_phone_e164(
        {{ null_if_junk(column, 'phone') }},
        cast({{ default_country if default_country is not none else 'null' }} as {{ dbt.type_string() }})
    )
{%- endmacro %}

{% macro default__normalize_phone(column, default_country=none) -%}
    (
        select case when {{ regex_matches('parsed.candidate', '^[+][1-9][0-9]{6,14}$') }} then parsed.candidate end
        from (
            select
                case
                    when cleaned.digits like '+%'
                        then {{ dbt.concat(["'+'", dbt.replace('cleaned.digits', "'+'", "''")]) }}
                    when cleaned.digits like '00%'
                        then {{ dbt.concat(["'+'", 'substr(cleaned.digits, 3)']) }}
                    when country.calling_code is not null then {{ dbt.concat(["'+'", 'country.calling_code', "case
                            when country.trunk_prefix is not null
                                and substr(cleaned.digits, 1, length(country.trunk_prefix)) = country.trunk_prefix
                                then substr(cleaned.digits, length(country.trunk_prefix) + 1)
                            else cleaned.digits
                        end"]) }}
                end as candidate
            from (
                select
                    {{ regex_replace(dbt.replace(null_if_junk(column, 'phone'), "'(0)'", "''"), '[^0-9+]', '') }} as digits,
                    upper(cast({{ default_country if default_country is not none else 'null' }} as {{ dbt.type_string() }})) as region
            ) as cleaned
            left join {{ ref('countries') }} as country on country.iso2 = cleaned.region
        ) as parsed
    )
{%- endmacro %}

{% macro postgres__normalize_phone(column, default_country=none) -%}
    {{ tessera.default__normalize_phone(column, default_country) }}
{%- endmacro %}

{#- Spark calls the same libphonenumber function as DuckDB (transforms/enrichment/spark_functions.py). -#}
{% macro spark__normalize_phone(column, default_country=none) -%}
    {{ tessera.duckdb__normalize_phone(column, default_country) }}
{%- endmacro %}
