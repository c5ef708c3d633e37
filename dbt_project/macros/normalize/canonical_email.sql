{#-
    The form of an email address that identity matching compares, from a normalised address
    (`normalize_email`). Everything after a `+` in the local part is a tag the mailbox owner
    added (`ana+shop@x.com` reaches `ana@x.com`), so it goes. Gmail also ignores dots in the local
    part and treats googlemail.com as gmail.com, so `A.Na+news@googlemail.com` → `ana@gmail.com`.
    Other providers may treat dots as significant, so theirs stay.
-#}
{% macro canonical_email(email) -%}
    {%- set local_part = dbt.split_part(dbt.split_part(email, "'@'", 1), "'+'", 1) -%}
    {%- set domain = dbt.split_part(email, "'@'", 2) -%}
    case
        when {{ email }} is null or {{ local_part }} = '' then null
        when {{ domain }} in ('gmail.com', 'googlemail.com')
            then {{ dbt.concat([dbt.replace(local_part, "'.'", "''"), "'@gmail.com'"]) }}
        else {{ dbt.concat([local_part, "'@'", domain]) }}
    end
{%- endmacro %}
