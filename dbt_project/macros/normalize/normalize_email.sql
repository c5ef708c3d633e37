{#-
    An email address as it can be used: trimmed, lower-case, one `@`, a dotted domain, no
    whitespace; placeholders (`junk_values`, kind `email`) and anything else become NULL.
    Mail servers ignore case in practice, so lower-casing never changes who receives the mail.
-#}
{% macro normalize_email(column) -%}
    {%- set cleaned = 'lower(trim(' ~ column ~ '))' -%}
    case
        when {{ regex_matches(cleaned, '^[^@[:space:]]+@[^@[:space:].]+([.][^@[:space:].]+)+$') }}
            then {{ null_if_junk(cleaned, 'email') }}
    end
{%- endmacro %}
