{#-
    Incremental customer models (docs/identity-resolution.md, "Daily runs"): `int_customer_changes` lists
    the customers a run must rebuild; each customer model deletes their rows and inserts them again.
-#}

{#-
    The configuration of a customer model: incremental, its changed customers' rows deleted before they are
    inserted again. Call it at the top of the model, with a `-- depends_on: {{ ref('int_customer_changes') }}`
    line (the list is read in hooks and conditional blocks).
-#}
{% macro customer_model() -%}
    {{ config(
        materialized=incremental_by_key(),
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ rebuild_changed_customers() }}",
    ) }}
{%- endmacro %}

{#- In int_customer_changes: a staging row became visible after the last run read that model. #}
{% macro staged_since_last_run(alias, staged_model) -%}
    {{ visible_after_watermark(alias ~ '._visible_at', this, staged_model) }}
{%- endmacro %}

{#-
    `column` is after the watermark the last run recorded in `changes` (int_customer_changes) for
    `staged_model`: the newest `_visible_at` that run read from it; true for every row before any run did.
-#}
{% macro visible_after_watermark(column, changes, staged_model) -%}
    {{ column }} > coalesce(
        (
            select max(marks.watermark) from {{ changes }} as marks
            where marks.customer_id is null and marks.staged_model = '{{ staged_model }}'
        ),
        cast('1900-01-01' as {{ dbt.type_timestamp() }})
    )
{%- endmacro %}

{#-
    A predicate on `column`: the customer is one this run rebuilds. Always true on a model's first build
    or full refresh, and after a run that rebuilt everything.
-#}
{% macro is_changed_customer(column='customer_id') -%}
    {%- if is_incremental() -%}
        {{ changed_customer_predicate(column, ref('int_customer_changes')) }}
    {%- else -%}
        (1 = 1)
    {%- endif -%}
{%- endmacro %}

{% macro changed_customer_predicate(column, changes) -%}
    (
        {{ column }} in (
            select changes.customer_id from {{ changes }} as changes
            where changes.customer_id is not null
        )
        or exists (select 1 from {{ changes }} as changes where changes.rebuilt_all)
    )
{%- endmacro %}

{#- Pre-hook of a customer model: remove the rows of the customers this run rebuilds (vanished ones too). #}
{% macro rebuild_changed_customers(column='customer_id') -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ is_changed_customer(column) }}
    {%- endif -%}
{%- endmacro %}

{#- Post-hook of int_customer_changes: say in the log how many customers this run rebuilds. #}
{% macro log_customer_changes() -%}
    {%- if execute -%}
        {%- set counts = run_query(
            "select count(distinct customer_id), max(case when rebuilt_all then 1 else 0 end) from " ~ this
        ) -%}
        {%- set customers, everyone = counts.columns[0].values()[0], counts.columns[1].values()[0] -%}
        {%- if everyone -%}
            {{ log("customer models: rebuilding every customer", info=true) }}
        {%- else -%}
            {{ log("customer models: rebuilding " ~ customers ~ " customers changed since the last complete run", info=true) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The built `int_customer_changes`, found without a ref (tests and hooks do not depend on it), or none. #}
{% macro customer_changes_relation() -%}
    {%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', 'int_customer_changes') | list -%}
    {%- if not nodes -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- do return(adapter.get_relation(nodes[0].database, nodes[0].schema, nodes[0].alias)) -%}
{%- endmacro %}

{#- The incremental models that int_customer_changes drives (they depend on it). #}
{% macro customer_models() -%}
    {%- set models = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.config.materialized == 'incremental'
            and 'model.' ~ project_name ~ '.int_customer_changes' in node.depends_on.nodes -%}
            {%- do models.append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do return(models) -%}
{%- endmacro %}

{#- Whether `relation` is built by one of the customer models. #}
{% macro is_customer_model(relation) -%}
    {%- set node = model_node(relation) -%}
    {%- do return(node is not none and node.unique_id in customer_models() | map(attribute='unique_id') | list) -%}
{%- endmacro %}

{#- The staging models whose newest `_visible_at` (their watermark) int_customer_changes records each run. #}
{% macro watermarked_staging_models() -%}
    {%- do return([
        'stg_crm__contacts',
        'stg_email__subscribers',
        'stg_email__events',
        'stg_pos__loyalty_members',
        'stg_pos__transactions',
        'stg_web__events',
    ]) -%}
{%- endmacro %}

{#-
    on-run-end: once every customer model has been rebuilt from the listed changes, they are spent: keep
    only the latest run's watermarks. A run where one of them failed or did not run keeps them all, so the
    next run rebuilds those customers too.
-#}
{% macro clear_consumed_customer_changes(results) -%}
    {%- if execute -%}
        {%- set changes = customer_changes_relation() -%}
        {%- set consumers = customer_models() | map(attribute='unique_id') | list -%}
        {%- set built = results | selectattr('status', 'equalto', 'success')
            | map(attribute='node') | map(attribute='unique_id') | select('in', consumers) | list -%}
        {%- if changes is not none and consumers and built | length == consumers | length -%}
            delete from {{ changes }}
            where customer_id is not null or changed_at < (select max(changed_at) from {{ changes }});
            update {{ changes }} set rebuilt_all = false
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
