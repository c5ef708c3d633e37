{#-
    Which customer each source record belongs to: the public cross-reference. Incremental: a run rebuilds
    the records of the customers it changed.
-#}
{{ customer_model() }}
-- depends_on: {{ ref('int_customer_changes') }}

with records as (
    select * from {{ ref('int_customer_records') }}
    where {{ is_changed_customer() }}
),

final as (
    select
        source,
        stream,
        record_id,
        customer_id
    from records
    where stream <> 'logins'
)

select * from final
