{#- A customer id derived from the key of its identity component (deterministic for a given graph). -#}
{% macro customer_id(customer_key) -%}
    {{ dbt.concat(["'cus_'", "substr(md5(" ~ customer_key ~ "), 1, 16)"]) }}
{%- endmacro %}
