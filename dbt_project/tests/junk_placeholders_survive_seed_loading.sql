{#-
    The placeholders that CSV readers like to take for missing values (`n/a`, `none`, `-`, `.`) must reach
    the warehouse as text on every engine, or null_if_junk would let them through: each one is in the loaded
    junk_values seed, and null_if_junk nulls it whatever its case and padding. Returns the failures.
-#}
{%- set placeholders = ['n/a', 'none', 'nil', '-', '--', '.', '?'] -%}

with placeholders as (
    {% for value in placeholders %}
    select cast('{{ value }}' as {{ dbt.type_string() }}) as value
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

loaded as (
    select value from {{ ref('junk_values') }} where applies_to = 'any'
),

missing as (
    select placeholders.value, 'not in the loaded junk_values seed' as problem
    from placeholders
    left join loaded on loaded.value = placeholders.value
    where loaded.value is null
),

kept as (
    select value, 'kept by null_if_junk' as problem
    from placeholders
    where {{ null_if_junk(dbt.concat(["' '", "upper(value)", "' '"]), 'name') }} is not null
)

select * from missing
union all
select * from kept
