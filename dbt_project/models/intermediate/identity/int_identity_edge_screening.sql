{#-
    Every edge of the identity graph screened by the rules that look at the whole graph at once: values
    on the blocklist (`blocked`) and values carried by more entities than allowed in some stream
    (`shared`); every other edge is `stitched` for now. Stitching (`int_identity_resolution`) then only
    has to join components and enforce per-customer limits, which look at one component at a time —
    so an incremental run can re-stitch only the components that changed.

    Each edge keeps the rule values that decide its fate (`rule_priority`, `rule_max_per_customer`):
    a changed rule changes the edge, and the components holding it are stitched again.
-#}
with screened as (
    {{ screen_identity_edges(ref('int_identity_edges'), ref('identity_rules'), ref('identity_blocklist')) }}
),

type_limits as (
    select
        identifier_type,
        max_per_customer
    from {{ ref('identity_rules') }}
    where coalesce(trim(cast(stream as {{ dbt.type_string() }})), '') = ''
),

final as (
    select
        screened.record_key,
        screened.source,
        screened.stream,
        screened.record_id,
        screened.identifier_type,
        screened.identifier_value,
        screened.counted_entity as entity_key,
        screened.observed_at,
        screened.match_probability,
        screened.match_detail,
        screened.rule_priority,
        type_limits.max_per_customer as rule_max_per_customer,
        screened.decision,
        screened.reason
    from screened
    left join type_limits on screened.identifier_type = type_limits.identifier_type
)

select * from final
