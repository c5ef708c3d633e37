{#-
    Scratch tables of a model that computes in several statements (connected components, stitching). Each one
    stores its query's result, so a statement that reads it plans one step, never the chain of steps before it.
    Returns the relation, created from `sql` (and analyzed, unless it is a tiny one made in a loop).

    - PostgreSQL, DuckDB: temporary tables, which live only as long as dbt's connection and never collide
      between models or runs.
    - Spark: parquet tables `tessera_scratch__<model>__<name>` in the model's schema. Spark SQL has no temporary
      tables, and a temporary view over the previous pass would make every pass re-plan all the passes before
      it. `drop_scratch_tables` (the post-hook `stitch_identity_graph` gives its model) drops them once the
      model is built; a run that fails leaves them, and the next one replaces them.
-#}
{% macro scratch_table(name, sql, analyze=true) %}
    {%- set relation = tessera.scratch_relation(name) -%}
    {% do run_query('drop table if exists ' ~ relation) %}
    {% do run_query(tessera.create_scratch_table(relation, sql)) %}
    {% if analyze %}{% do tessera.analyze_scratch_table(relation) %}{% endif %}
    {{ return(relation) }}
{% endmacro %}

{% macro scratch_relation(name) %}
    {{ return(adapter.dispatch('scratch_relation', 'tessera')(name)) }}
{% endmacro %}

{% macro default__scratch_relation(name) %}
    {{ return(api.Relation.create(identifier='tessera_scratch__' ~ name, type='table')) }}
{% endmacro %}

{% macro spark__scratch_relation(name) %}
    {{ return(api.Relation.create(
        schema=this.schema, identifier=tessera.spark_scratch_prefix() ~ name, type='table'
    )) }}
{% endmacro %}

{#- On Spark: what the names of the model's scratch tables start with. -#}
{% macro spark_scratch_prefix() %}
    {{ return('tessera_scratch__' ~ this.identifier ~ '__') }}
{% endmacro %}

{% macro create_scratch_table(relation, sql) %}
    {{ return(adapter.dispatch('create_scratch_table', 'tessera')(relation, sql)) }}
{% endmacro %}

{% macro default__create_scratch_table(relation, sql) %}
    {{ return(dbt.create_table_as(true, relation, sql)) }}
{% endmacro %}

{% macro spark__create_scratch_table(relation, sql) %}
    {{ return('create table ' ~ relation ~ ' using parquet as ' ~ sql) }}
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
    A post-hook: drops every scratch table of the model once it is built. Temporary tables go with dbt's
    connection, so only Spark, whose scratch tables are parquet tables in the model's schema, has any to drop.
-#}
{% macro drop_scratch_tables() %}
    {{ return(adapter.dispatch('drop_scratch_tables', 'tessera')()) }}
{% endmacro %}

{% macro default__drop_scratch_tables() %}
    {{ return('') }}
{% endmacro %}

{% macro spark__drop_scratch_tables() %}
    {%- if execute -%}
        {%- set scratch = run_query(
            'show tables in ' ~ this.schema ~ " like '" ~ tessera.spark_scratch_prefix() ~ "*'"
        ) -%}
        {%- for row in scratch.rows if not row['isTemporary'] -%}
            {% do tessera.drop_scratch_table(
                api.Relation.create(schema=this.schema, identifier=row['tableName'], type='table')
            ) %}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
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
