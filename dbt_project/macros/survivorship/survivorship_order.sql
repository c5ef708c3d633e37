{#-
    The ORDER BY that ranks candidate values of one attribute under a survivorship rule; rank 1 wins.
    Rules: source_priority (sources in the configured order, then most recent), most_recent,
    most_frequent (then most recent), first_non_null (the earliest observed value).
-#}
{% macro survivorship_order(rule, default_sources) -%}
    {%- set kind = rule.get('rule', 'source_priority') -%}
    {%- if kind == 'source_priority' -%}
        {%- set sources = rule.get('sources', default_sources) -%}
        case source
            {%- for s in sources %} when '{{ s }}' then {{ loop.index }}{% endfor %}
            else {{ sources | length + 1 }}
        end asc,
        observed_at desc nulls last
    {%- elif kind == 'most_recent' -%}
        observed_at desc nulls last
    {%- elif kind == 'most_frequent' -%}
        value_count desc, observed_at desc nulls last
    {%- elif kind == 'first_non_null' -%}
        observed_at asc nulls last
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "survivorship: rule '" ~ kind ~ "' is not one of source_priority, most_recent, most_frequent, first_non_null"
        ) }}
    {%- endif -%},
    record_key asc
{%- endmacro %}
