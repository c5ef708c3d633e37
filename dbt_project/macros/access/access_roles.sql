{#-
    Who may read what on PostgreSQL (docs/access-control.md). Two group roles: the analyst role reads the
    analyst schema's masked views and nothing else; the activation role reads the full schemas. Tables and
    views get their `select` grants from the `grants` config in dbt_project.yml, which names the roles (vars
    `analyst_role`, `activation_role`); schema usage is not a relation's config, so these hooks give it to
    the roles those grants name. DuckDB has no roles: both hooks are no-ops there.
-#}

{#- The schemas holding unmasked data: the activation role reads them, the analyst role may not. -#}
{% macro full_schemas() -%}
    {%- do return(['staging', 'intermediate', 'marts', 'segments']) -%}
{%- endmacro %}

{#- The schema of the masked views. -#}
{% macro analyst_schema() -%}
    {%- do return('analyst') -%}
{%- endmacro %}

{#- The roles the models of `schemas` grant `select` to (their `grants` config). -#}
{% macro granted_roles(schemas) -%}
    {%- set roles = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.config.schema in schemas -%}
            {%- for role in (node.config.grants or {}).get('select', []) if role not in roles -%}
                {%- do roles.append(role) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do return(roles) -%}
{%- endmacro %}

{% macro quoted_roles(roles) -%}
    {%- set quoted = [] -%}
    {%- for role in roles -%}
        {%- do quoted.append(adapter.quote(role)) -%}
    {%- endfor -%}
    {%- do return(quoted) -%}
{%- endmacro %}

{#-
    on-run-start: create the two roles when missing (NOLOGIN groups; people and tools log in as members).
    Idempotent, and safe when two builds race: a role another session just created is fine. Where the dbt
    user may not create roles, a DBA creates them once and this finds them.
-#}
{% macro create_access_roles() -%}
    {{ return(adapter.dispatch('create_access_roles', 'tessera')()) }}
{%- endmacro %}

{% macro default__create_access_roles() -%}
{%- endmacro %}

{% macro postgres__create_access_roles() -%}
    {%- if execute -%}
    {%- for role in granted_roles([analyst_schema()] + full_schemas()) %}
do $access$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = '{{ role | replace("'", "''") }}') then
        create role {{ adapter.quote(role) }} nologin;
    end if;
exception when duplicate_object or unique_violation then
    null;
end
$access$;
    {%- endfor %}
    {%- endif -%}
{%- endmacro %}

{#-
    on-run-end: schema usage. The analyst role may use the analyst schema only: no usage on the full schemas,
    and PUBLIC (every role) keeps none either, so a grant PostgreSQL or an earlier setup gave everyone cannot
    open them. The activation role may use the full schemas. Only schemas that exist are touched (a
    selection may not have made them all yet).
-#}
{% macro grant_schema_access() -%}
    {{ return(adapter.dispatch('grant_schema_access', 'tessera')()) }}
{%- endmacro %}

{% macro default__grant_schema_access() -%}
{%- endmacro %}

{% macro postgres__grant_schema_access() -%}
    {%- if execute -%}
        {%- set analysts = quoted_roles(granted_roles([analyst_schema()])) -%}
        {%- set activation = quoted_roles(granted_roles(full_schemas())) -%}
        {%- set wanted = full_schemas() + [analyst_schema()] -%}
        {%- set found = run_query(
            "select schema_name from information_schema.schemata where schema_name in ('"
            ~ wanted | join("', '") ~ "') order by schema_name"
        ).columns[0].values() -%}
        {%- for schema in found %}
revoke all on schema {{ adapter.quote(schema) }} from public;
            {%- if schema == analyst_schema() and analysts %}
grant usage on schema {{ adapter.quote(schema) }} to {{ analysts | join(', ') }};
            {%- elif schema != analyst_schema() %}
                {%- if analysts %}
revoke all on schema {{ adapter.quote(schema) }} from {{ analysts | join(', ') }};
revoke all on all tables in schema {{ adapter.quote(schema) }} from {{ analysts | join(', ') }};
                {%- endif %}
                {%- if activation %}
grant usage on schema {{ adapter.quote(schema) }} to {{ activation | join(', ') }};
                {%- endif %}
            {%- endif %}
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}
