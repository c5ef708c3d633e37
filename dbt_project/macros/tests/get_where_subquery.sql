{#-
    Data tests on big incremental models check the rows a run wrote, as a `where` config on the test
    (dbt_project.yml) with one of two placeholders:
    - `__changed_customers__`: "the customer is one this run rebuilt" on a model that int_customer_changes
      drives (everyone on a full build), "every row" on any other model;
    - `__new_rows__`: "the row became visible after the last run's watermark" on an incremental model whose
      rows carry a staging model's `_visible_at` (`new_rows_predicate`), "every row" on any other model.
    Any other `where` works as in dbt.
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
    {%- if where and '__new_rows__' in where -%}
        {%- set where = where | replace('__new_rows__', new_rows_predicate(relation)) -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#-
    The rows of `relation` a daily run wrote: `_visible_at` after the watermark that the last run of
    int_customer_changes recorded for the staging model the rows come from. That marker advances only once
    everything upstream of it built and passed its tests, so rows of a run whose tests failed are checked
    again by the next run. Every row on a full refresh, before a first complete run, and on a model that is
    not incremental or whose rows come from no watermarked staging model (its own name, or its
    `meta.new_rows_of`).
-#}
{% macro new_rows_predicate(relation) -%}
    {%- set node = model_node(relation) -%}
    {%- set changes = customer_changes_relation() -%}
    {%- if node is none or changes is none or flags.FULL_REFRESH or node.config.materialized != 'incremental' -%}
        {%- do return('1 = 1') -%}
    {%- endif -%}
    {%- set staged_model = node.config.meta.get('new_rows_of') or node.name -%}
    {%- if staged_model not in watermarked_staging_models() -%}
        {%- do return('1 = 1') -%}
    {%- endif -%}
    {%- do return(visible_after_watermark('_visible_at', changes, staged_model)) -%}
{%- endmacro %}

{#- The model node that builds `relation`, or none. #}
{% macro model_node(relation) -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.alias | lower == relation.identifier | lower
            and node.schema | lower == relation.schema | lower -%}
            {%- do return(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do return(none) -%}
{%- endmacro %}
