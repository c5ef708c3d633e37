{#-
    A birth date typed as text, as a date. Understood forms:
      `1990-03-07`                       ISO (year first)
      `19900307`                         compact, year first (`YYYYMMDD`, as tills and exports write it)
      `07/03/1990`, `07.03.1990`, `07-03-1990`   day and month in either order, see below
      `7 Mar 1990`, `7 March 1990`       day, English month name, year
      `Mar 7, 1990`, `March 7 1990`      English month name, day, year
    A slashed date is unambiguous when one of its first two numbers is above 12 (`25/03/1990`,
    `03/25/1990`). When both are 12 or less (`04/03/1990`) it is read in `slash_order`: an SQL
    expression giving `'dmy'` or `'mdy'` per row, e.g. from the record's country, since the
    same clerk in the same country writes dates the same way. Default `'dmy'`.
    Impossible dates (`31/02/1990`, month 13), years before var `birth_date_min_year`, dates
    after `as_of` (an SQL date expression, e.g. when the record was updated) and placeholders
    (`junk_values`, kind `date`, e.g. `1900-01-01`) are NULL.
-#}
{% macro parse_birth_date(column, slash_order="'dmy'", as_of=none) -%}
    {%- set iso = '^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$' -%}
    {%- set compact = '^([0-9]{4})([0-9]{2})([0-9]{2})$' -%}
    {%- set slashed = '^([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})$' -%}
    {%- set day_first = '^([0-9]{1,2})[[:space:]]+([A-Za-z]{3,})[.]?,?[[:space:]]+([0-9]{4})$' -%}
    {%- set month_first = '^([A-Za-z]{3,})[.]?[[:space:]]+([0-9]{1,2}),?[[:space:]]+([0-9]{4})$' -%}
    {%- set months = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] -%}
    (
        select case when checked.is_real and (checked.as_of is null or checked.birth_date <= checked.as_of)
            then checked.birth_date
        end
        from (
            select
                ordered.is_real,
                ordered.as_of,
                case when ordered.is_real then {{ date_from_parts('ordered.y', 'ordered.m', 'ordered.d') }} end as birth_date
            from (
                select
                    parts.y,
                    parts.m,
                    parts.d,
                    parts.as_of,
                    parts.y >= {{ var('birth_date_min_year', 1901) }}
                    and parts.m between 1 and 12
                    and parts.d between 1 and case
                        when parts.m = 2 and (mod(parts.y, 4) = 0 and mod(parts.y, 100) <> 0 or mod(parts.y, 400) = 0) then 29
                        when parts.m = 2 then 28
                        when parts.m in (4, 6, 9, 11) then 30
                        else 31
                    end as is_real
                from (
                    select
                        typed.as_of,
                        coalesce(
                            cast({{ regex_extract('typed.written', iso, 1) }} as integer),
                            cast({{ regex_extract('typed.written', compact, 1) }} as integer),
                            cast({{ regex_extract('typed.written', slashed, 3) }} as integer),
                            cast({{ regex_extract('typed.written', day_first, 3) }} as integer),
                            cast({{ regex_extract('typed.written', month_first, 3) }} as integer)
                        ) as y,
                        coalesce(
                            cast({{ regex_extract('typed.written', iso, 2) }} as integer),
                            cast({{ regex_extract('typed.written', compact, 2) }} as integer),
                            case
                                when typed.first_number > 12 then typed.second_number
                                when typed.second_number > 12 then typed.first_number
                                when typed.slash_order = 'mdy' then typed.first_number
                                else typed.second_number
                            end,
                            case lower(left(coalesce(
                                {{ regex_extract('typed.written', day_first, 2) }},
                                {{ regex_extract('typed.written', month_first, 1) }}
                            ), 3))
                                {%- for month in months %}
                                when '{{ month }}' then {{ loop.index }}
                                {%- endfor %}
                            end
                        ) as m,
                        coalesce(
                            cast({{ regex_extract('typed.written', iso, 3) }} as integer),
                            cast({{ regex_extract('typed.written', compact, 3) }} as integer),
                            case
                                when typed.first_number > 12 then typed.first_number
                                when typed.second_number > 12 then typed.second_number
                                when typed.slash_order = 'mdy' then typed.second_number
                                else typed.first_number
                            end,
                            cast({{ regex_extract('typed.written', day_first, 1) }} as integer),
                            cast({{ regex_extract('typed.written', month_first, 2) }} as integer)
                        ) as d
                    from (
                        select
                            raw.written,
                            raw.slash_order,
                            raw.as_of,
                            cast({{ regex_extract('raw.written', slashed, 1) }} as integer) as first_number,
                            cast({{ regex_extract('raw.written', slashed, 2) }} as integer) as second_number
                        from (
                            select
                                trim({{ null_if_junk(column, 'date') }}) as written,
                                lower({{ slash_order }}) as slash_order,
                                cast({{ as_of if as_of is not none else 'null' }} as date) as as_of
                        ) as raw
                    ) as typed
                ) as parts
            ) as ordered
        ) as checked
    )
{%- endmacro %}
