{#-
    Scratch tables of a model that computes in several statements (connected components, stitching):
    temporary tables, so they live only as long as dbt's connection and never collide between models
    or runs. Returns the relation, created from `sql` (and analyzed, unless it is a tiny one made in a loop).
-#}
{% macro scratch_table(name, sql, analyze=true) %}
    {%- set relation = api.Relation.create(identifier='tessera_scratch__' ~ name, type='table') -%}
    {% do run_query('drop table if exists ' ~ relation) %}
    {% do run_query(dbt.create_table_as(true, relation, sql)) %}
    {% if analyze %}{% do tessera.analyze_scratch_table(relation) %}{% endif %}
    {{ return(relation) }}
{% endmacro %}

{#- Fresh statistics, so the planner sizes its joins (PostgreSQL never auto-analyzes temporary tables). -#}
{% macro analyze_scratch_table(relation) %}
    {{ return(adapter.dispatch('analyze_scratch_table', 'tessera')(relation)) }}
{% endmacro %}

{% macro default__analyze_scratch_table(relation) %}
{% endmacro %}

{% macro postgres__analyze_scratch_table(relation) %}
    {% do run_query('analyze ' ~ relation) %}
{% endmacro %}

{% macro drop_scratch_table(relation) %}
    {% do run_query('drop table if exists ' ~ relation) %}
{% endmacro %}

{#-
    Connected components of an undirected graph in portable SQL, for engines where dbt cannot run the
    Python (scipy) version: iterated minimum-label propagation with pointer jumping.

    adjacency:  a relation (node_id, neighbour_id) of integer node ids, holding both directions of every edge.
    name:       a name for the scratch tables.
    max_passes: the bound; a graph that has not settled after this many passes fails the model with a
                message saying so (raise the `identity_max_passes` var).

    Every node starts labelled with its own id. Each pass gives every node the smallest label among itself
    and its neighbours, then makes it jump to the label of the node its label names (pointer jumping), which
    halves the remaining distance along a chain instead of walking it one hop per pass. When a pass changes
    no label, every node carries the smallest node id of its component. Returns a scratch relation
    (node_id, label) covering every node with a neighbour; a node without one is its own component.
-#}
{% macro connected_components(adjacency, name, max_passes) %}
    {%- set current = tessera.scratch_table(name ~ '_0', 'select distinct node_id, node_id as label from ' ~ adjacency) -%}
    {%- set state = namespace(current=current, passes=0, changed=-1) -%}
    {%- for pass in range(1, max_passes + 1) -%}
        {%- set next = tessera.scratch_table(name ~ '_' ~ (pass % 2), "
            with candidates as (
                select node_id, label from " ~ state.current ~ "
                union all
                select adjacency.node_id, labels.label
                from " ~ adjacency ~ " as adjacency
                inner join " ~ state.current ~ " as labels on labels.node_id = adjacency.neighbour_id
            ),

            propagated as (
                select node_id, min(label) as label
                from candidates
                group by node_id
            )

            select propagated.node_id, jumped.label
            from propagated
            inner join propagated as jumped on jumped.node_id = propagated.label
        ") -%}
        {%- set state.changed = run_query(
            'select count(*) from ' ~ next ~ ' as next_labels inner join ' ~ state.current
            ~ ' as labels on labels.node_id = next_labels.node_id where labels.label <> next_labels.label'
        ).columns[0].values()[0] | int -%}
        {%- do tessera.drop_scratch_table(state.current) -%}
        {%- set state.current = next -%}
        {%- set state.passes = pass -%}
        {%- if state.changed == 0 -%}{%- break -%}{%- endif -%}
    {%- endfor -%}
    {%- if state.changed != 0 -%}
        {{ exceptions.raise_compiler_error(
            "connected components of " ~ name ~ " did not settle after " ~ max_passes ~ " passes ("
            ~ state.changed ~ " labels still changing): the graph has unusually long chains. Raise the "
            ~ "`identity_max_passes` var (dbt_project.yml) and build again."
        ) }}
    {%- endif -%}
    {{ log("connected components of " ~ name ~ ": settled after " ~ state.passes ~ " passes") }}
    {{ return(state.current) }}
{% endmacro %}
