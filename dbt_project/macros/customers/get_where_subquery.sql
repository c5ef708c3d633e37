{#-
    Data tests on the incremental customer models check the rows a run rebuilt: a `where` config of
    `__changed_customers__` (dbt_project.yml) becomes "the customer is one this run rebuilt" (everyone on a
    full build) on a model that int_customer_changes drives, and "every row" on any other model. Any other
    `where` works as in dbt.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__changed_customers__' in where -%}
        {%- set changes = customer_changes_relation() -%}
        {%- set predicate = '1 = 1' -%}
        {%- if changes is not none and is_customer_model(relation) -%}
            {%- set predicate = changed_customer_predicate('customer_id', changes) -%}
        {%- endif -%}
        {%- set where = where | replace('__changed_customers__', predicate) -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
