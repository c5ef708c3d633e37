{#- Every edge merge protection kept out of stitching, and why: what `tessera explain` shows. -#}
with resolution as (
    select * from {{ ref('int_identity_resolution') }}
),

final as (
    select
        record_key,
        source,
        stream,
        record_id,
        identifier_type,
        identifier_value,
        decision,
        reason,
        customer_key
    from resolution
    where decision <> 'stitched'
)

select * from final
