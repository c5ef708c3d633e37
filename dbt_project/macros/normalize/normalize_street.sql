{#-
    A street line as matching compares it: lower-case, accents stripped (`ß` → `ss`),
    punctuation gone, whitespace collapsed and abbreviations written out from the
    `address_abbreviations` seed, so `12 Oak St.`, `12 oak street` and `12  OAK STREET`
    all read `12 oak street`, and `Hauptstr. 4` reads `hauptstrasse 4`. Hyphens stay: they
    join German compound street names (`Zoran-Baum-Str.`).
-#}
{% macro normalize_street(column) -%}
    {%- set folded = 'lower(' ~ strip_accents(null_if_junk(column, 'address')) ~ ')' -%}
    {%- set words = collapse_whitespace(regex_replace(regex_replace(folded, "[''’]", ''), '[^a-z0-9 -]', ' ')) -%}
    nullif({{ expand_address_abbreviations(words) }}, '')
{%- endmacro %}
