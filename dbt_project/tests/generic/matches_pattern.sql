{#- Passes when every non-null value of the column matches the regular expression (anchor it for a full match). -#}
{% test matches_pattern(model, column_name, pattern) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
    and not {{ regex_matches(column_name, pattern) }}
{% endtest %}
