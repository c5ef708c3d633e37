{#-
    A postcode as matching compares it: upper-case, no spaces (`sw1a 1aa` → `SW1A1AA`).
    With the record's country, two spreadsheet accidents are undone for countries whose
    postcodes are all digits of a fixed length (`postcode_digits` in the `countries` seed):
    a lost leading zero comes back (`2134` → `02134` in the US) and a ZIP+4 extension goes
    (`02134-1234` → `02134`), so the same address compares equal either way.
-#}
{% macro normalize_postcode(column, country=none) -%}
    {%- set compact = 'upper(' ~ regex_replace(null_if_junk(column, 'address'), '[[:space:]]', '') ~ ')' -%}
    {%- if country is none -%}
        nullif({{ compact }}, '')
    {%- else -%}
    (
        select case
            when postcode.compact = '' then null
            when coalesce(postcode.digits, 0) = 0 then postcode.compact
            when {{ regex_matches('postcode.compact', '^[0-9]+$') }}
                and length(postcode.compact) between postcode.digits - 2 and postcode.digits - 1
                then lpad(postcode.compact, postcode.digits, '0')
            when {{ regex_matches('postcode.compact', '^[0-9]+-[0-9]+$') }}
                and length({{ dbt.split_part('postcode.compact', "'-'", 1) }}) = postcode.digits
                then {{ dbt.split_part('postcode.compact', "'-'", 1) }}
            else postcode.compact
        end
        from (
            select
                max(typed.compact) as compact,
                max(country.postcode_digits) as digits
            from (select {{ compact }} as compact, {{ country }} as iso2) as typed
            left join {{ ref('countries') }} as country on country.iso2 = typed.iso2
        ) as postcode
    )
    {%- endif -%}
{%- endmacro %}
