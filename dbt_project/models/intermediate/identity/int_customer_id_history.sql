{#-
    Stable customer ids, as an append-only history of (record, customer_id, assigned_at).

    Each run compares the current components with every record's latest id:
    - a component whose records carry one previous id keeps it (the customer only grew);
    - a component that joins several customers keeps the oldest id (the others are merged into it);
    - an id whose records now fall into several components is retired: each piece keeps another
      whole id it carries, or gets a new one (a split);
    - a component with no previous id gets a new one;
    - a record that belongs to no customer any more (it lost its identifiers, or its component is no
      longer a customer) is released: a row with no customer id.
    Only changed assignments are appended, and a full refresh never rebuilds this table, so ids
    survive `--full-refresh`. `marts.customer_merges` reads the changes from here.
-#}
{{ config(materialized='incremental', incremental_strategy='append', full_refresh=false) }}

{%- set run_at = "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as " ~ dbt.type_timestamp() ~ ")" %}

with components as (
    select
        record_key,
        customer_key
    from {{ ref('int_customer_components') }}
),

{% if is_incremental() %}
previous as (
    select record_key, customer_id
    from (
        select
            record_key,
            customer_id,
            row_number() over (partition by record_key order by assigned_at desc) as recency
        from {{ this }}
    ) as ranked
    where recency = 1 and customer_id is not null
),

id_births as (
    select customer_id, min(assigned_at) as born_at
    from {{ this }}
    group by 1
),
{% else %}
previous as (
    select
        cast(null as {{ dbt.type_string() }}) as record_key,
        cast(null as {{ dbt.type_string() }}) as customer_id
    where 1 = 0
),

id_births as (
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_timestamp() }}) as born_at
    where 1 = 0
),
{% endif %}

carried as (
    select
        components.customer_key,
        previous.customer_id
    from components
    inner join previous on components.record_key = previous.record_key
    group by 1, 2
),

spread as (
    select
        customer_id,
        count(*) as component_count
    from carried
    group by 1
),

kept as (
    select
        carried.customer_key,
        carried.customer_id,
        row_number() over (
            partition by carried.customer_key
            order by id_births.born_at, carried.customer_id
        ) as age_rank
    from carried
    inner join spread on carried.customer_id = spread.customer_id
    left join id_births on carried.customer_id = id_births.customer_id
    where spread.component_count = 1
),

ancestry as (
    select
        customer_key,
        max(customer_id) as previous_id
    from carried
    group by 1
),

assignment as (
    select
        components.record_key,
        coalesce(
            kept.customer_id,
            {{ customer_id(dbt.concat(["components.customer_key", "':'", "coalesce(ancestry.previous_id, '')"])) }}
        ) as customer_id
    from components
    left join kept on components.customer_key = kept.customer_key and kept.age_rank = 1
    left join ancestry on components.customer_key = ancestry.customer_key
),

released as (
    select
        previous.record_key,
        cast(null as {{ dbt.type_string() }}) as customer_id
    from previous
    left join components on previous.record_key = components.record_key
    where components.record_key is null
),

final as (
    select
        assignment.record_key,
        assignment.customer_id,
        {{ run_at }} as assigned_at
    from assignment
    left join previous on assignment.record_key = previous.record_key
    where previous.customer_id is null or previous.customer_id <> assignment.customer_id

    union all

    select
        record_key,
        customer_id,
        {{ run_at }} as assigned_at
    from released
)

select * from final
