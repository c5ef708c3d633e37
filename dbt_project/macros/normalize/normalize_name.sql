{#-
    A name as matching compares it: lower-case, accents stripped, only letters, spaces, hyphens
    and apostrophes kept, whitespace collapsed; placeholders (`junk_values`, kind `name` by
    default) become NULL. `José  Núñez-O'Brien ` → `jose nunez-o'brien`. Letters outside the
    Latin alphabet are dropped too, which keeps the rule identical on every engine.
    Show people the display version (`clean_text`), never this one.
-#}
{% macro normalize_name(column, kind='name') -%}
    {%- set folded = 'lower(' ~ strip_accents(dbt.replace(null_if_junk(column, kind), "'’'", "''''")) ~ ')' -%}
    nullif({{ collapse_whitespace(regex_replace(folded, "[^a-z ''-]", '')) }}, '')
{%- endmacro %}
