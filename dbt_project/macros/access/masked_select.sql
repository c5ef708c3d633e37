{#-
    The analyst schema's views (docs/access-control.md): a model's columns with its PII masked as its YAML
    tags them, so a column is masked as soon as it is tagged and nobody writes a masked select by hand.

    A column tagged `meta: {pii: true, masking: <policy>}` is
    - `hash`: replaced by `<column>_sha256`, the SHA-256 of its text (count and join, never read);
    - `drop` (also the policy of a PII tag without one): left out.
    Every other column passes through unchanged, under its own name.
-#}

{#- The masking policies the analyst views understand. -#}
{% macro masking_policies() -%}
    {%- do return(['hash', 'drop']) -%}
{%- endmacro %}

{#- column name -> masking policy, for every column of `model_name` its YAML tags `pii: true`. -#}
{% macro pii_masking(model_name) -%}
    {%- set policies = {} -%}
    {%- for column in model_columns(model_name) -%}
        {%- set meta = column_meta(column) -%}
        {%- if meta.get('pii') -%}
            {%- set policy = meta.get('masking', 'drop') -%}
            {%- if policy not in masking_policies() -%}
                {%- do exceptions.raise_compiler_error(
                    "column " ~ model_name ~ "." ~ column.name ~ " has masking policy '" ~ policy
                    ~ "'; use one of: " ~ masking_policies() | join(', ')
                ) -%}
            {%- endif -%}
            {%- do policies.update({column.name | lower: policy}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do return(policies) -%}
{%- endmacro %}

{#- A column's `meta`, whether the YAML put it under `config:` (dbt >= 1.10) or beside the name. -#}
{% macro column_meta(column) -%}
    {%- set meta = {} -%}
    {%- do meta.update(column.get('meta') or {}) -%}
    {%- do meta.update((column.get('config') or {}).get('meta') or {}) -%}
    {%- do return(meta) -%}
{%- endmacro %}

{#- The columns `model_name`'s YAML documents, in its order. -#}
{% macro model_columns(model_name) -%}
    {%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', model_name) | list -%}
    {%- if not nodes -%}
        {%- do exceptions.raise_compiler_error("no model named " ~ model_name ~ " to mask") -%}
    {%- endif -%}
    {%- do return(nodes[0].columns.values() | list) -%}
{%- endmacro %}

{#-
    The names of `relation`'s columns: as built when it exists (a column its YAML does not document passes
    through, untagged), else as its YAML documents them (parsing, linting against an empty warehouse).
-#}
{% macro relation_column_names(relation, model_name) -%}
    {%- set built = adapter.get_relation(relation.database, relation.schema, relation.identifier) if execute else none -%}
    {%- if built is not none -%}
        {%- do return(adapter.get_columns_in_relation(built) | map(attribute='name') | map('lower') | list) -%}
    {%- endif -%}
    {%- do return(model_columns(model_name) | map(attribute='name') | map('lower') | list) -%}
{%- endmacro %}

{#- The select of an analyst view over `model_name`, its PII masked. -#}
{% macro masked_select(model_name) -%}
    {%- set upstream = ref(model_name) -%}
    {%- if not execute -%}
        {#- Parsing records the ref; the graph, and so the tags, exist only once the project is parsed. -#}
        {%- do return('select * from ' ~ upstream) -%}
    {%- endif -%}
    {%- set policies = pii_masking(model_name) -%}
    {%- set selected = [] -%}
    {%- for name in relation_column_names(upstream, model_name) -%}
        {%- set policy = policies.get(name) -%}
        {%- if policy == 'hash' -%}
            {%- do selected.append(sha256_hex(name) ~ ' as ' ~ name ~ '_sha256') -%}
        {%- elif policy is none -%}
            {%- do selected.append(name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not selected -%}
        {%- do exceptions.raise_compiler_error("every column of " ~ model_name ~ " is masked out: nothing left to show analysts") -%}
    {%- endif %}
select
    {{ selected | join(',\n    ') }}
from {{ upstream }}
{%- endmacro %}
