{#-
    How many of a customer's `activity` rows (from `int_customer_activity`, aliased `relation`) fall in the
    `days` before "now" (`as_of.as_of`, the `as_of` CTE of the model): the engagement counters of the traits and
    the prediction features, counted one way.
-#}
{% macro count_recent_activity(relation, activity, days) -%}
    sum(
        case
            when
                {{ relation }}.activity = '{{ activity }}'
                and {{ relation }}.occurred_at > {{ dbt.dateadd('day', -days, 'as_of.as_of') }} then 1
            else 0
        end
    )
{%- endmacro %}
