{#-
    NULL for empty strings, the text `null`, and the placeholders people type to get past a
    required field (`test@test.com`, `0000000000`, `n/a`). The list is the `junk_values` seed:
    rows whose `applies_to` is `kind` or `any` count, compared lower-case and trimmed. (`null`
    is built in because CSV seed loaders read it as a missing value.)
    kind: email | phone | name | address | date | any
-#}
{% macro null_if_junk(column, kind='any') -%}
    {{- return(adapter.dispatch('null_if_junk', 'tessera')(column, kind)) -}}
{%- endmacro %}

{% macro default__null_if_junk(column, kind='any') -%}
    case
        when lower(trim({{ column }})) in ('', 'null') then null
        when lower(trim({{ column }})) in (
            select junk.value from {{ ref('junk_values') }} as junk
            where junk.applies_to in ('{{ kind }}', 'any')
        ) then null
        else {{ column }}
    end
{%- endmacro %}

{#-
    Spark allows an IN subquery only at the top of a filter or projection, not inside the correlated lookups
    the normalising macros nest it in; the placeholders are one list (an uncorrelated scalar subquery) instead.
-#}
{% macro spark__null_if_junk(column, kind='any') -%}
    case
        when lower(trim({{ column }})) in ('', 'null') then null
        when array_contains(
            (
                select collect_set(junk.value) from {{ ref('junk_values') }} as junk
                where junk.applies_to in ('{{ kind }}', 'any')
            ),
            lower(trim({{ column }}))
        ) then null
        else {{ column }}
    end
{%- endmacro %}
