{#-
    For every golden attribute of every customer: the value that survived, the record that supplied it
    and the rule that chose it. Rules are configured per attribute in `dbt_project.yml`
    (vars: survivorship); see docs/identity-resolution.md. Incremental: a run rebuilds the customers it
    changed; a changed rule needs `--full-refresh`.
-#}
{{ customer_model() }}
{%- set config = var('survivorship') %}
-- depends_on: {{ ref('int_customer_changes') }}

with candidates as (
    select * from {{ ref('int_customer_attribute_candidates') }}
    where {{ is_changed_customer() }}
),

counted as (
    select
        *,
        count(*) over (partition by customer_id, attribute, value) as value_count
    from candidates
),

{% for attribute, rule in config['attributes'].items() %}
ranked_{{ attribute }} as (
    select
        customer_id,
        attribute,
        value,
        source,
        stream,
        record_id,
        observed_at,
        '{{ rule.get("rule", "source_priority") }}' as rule,
        row_number() over (
            partition by customer_id
            order by {{ survivorship_order(rule, config['source_priority']) }}
        ) as rank_in_customer
    from counted
    where attribute = '{{ attribute }}'
),
{% endfor %}

final as (
    {% for attribute in config['attributes'] %}
    select
        customer_id,
        attribute,
        value,
        source,
        stream,
        record_id,
        observed_at,
        rule
    from ranked_{{ attribute }}
    where rank_in_customer = 1
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final
