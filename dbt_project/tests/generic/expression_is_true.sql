{#-
    Passes when `expression` holds on every row where it can be judged (a null on either side is no verdict).
    On a column, the expression is about that column; on a model, about its row.
-#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
