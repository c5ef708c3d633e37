{#-
    The person columns every profile stream (CRM contacts, loyalty members) normalises the same way:
    names, birth date and postal address, each cleaned for display and folded for matching. `country` is
    the column holding the ISO-2 country stated on the record (it decides the birth-date order and the
    postcode format); `as_of` is the record's own date, so a two-digit year is read as a past year.
-#}
{% macro normalize_person_columns(country='country_stated', as_of='cast(updated_at as date)') %}
        {{ clean_text('first_name', 'name') }} as first_name,
        {{ normalize_name('first_name') }} as first_name_norm,
        {{ clean_text('last_name', 'name') }} as last_name,
        {{ normalize_name('last_name') }} as last_name_norm,
        {{ parse_birth_date(
            'birth_date',
            slash_order="case when " ~ country ~ " = 'US' then 'mdy' else 'dmy' end",
            as_of=as_of
        ) }} as birth_date,
        birth_date as birth_date_raw,
        {{ clean_text('street', 'address') }} as street,
        {{ normalize_street('street') }} as street_norm,
        {{ clean_text('city', 'address') }} as city,
        {{ normalize_name('city', 'address') }} as city_norm,
        {{ clean_text('postcode', 'address') }} as postcode,
        {{ normalize_postcode('postcode', country) }} as postcode_norm
{%- endmacro %}
