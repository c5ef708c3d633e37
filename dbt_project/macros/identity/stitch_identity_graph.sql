{#-
    Deterministic stitching in portable SQL: what `transforms/identity/stitching.py::stitch` does, for engines
    where dbt cannot run Python models (PostgreSQL, Spark). Same inputs (the edges, the identity_rules and
    identity_blocklist seeds), same output: every edge with `decision`, `reason` and `customer_key`.
    Each step's result is a scratch table (`scratch_table`: temporary tables, or parquet tables on Spark);
    the only engine-specific statements are the ones that make and drop those.

    1. Blocklist: an edge whose (identifier_type, identifier_value) is on the blocklist is `blocked`.
    2. Shared values: for every edge not blocked whose rule has a `max_entities_per_value` (the rule of its
       stream when identity_rules has a row for that type and stream, else the type's rule), the distinct
       entities (`entity_key`, else the record) carrying the value are counted per source and stream. A value
       with more entities than the limit in some stream is `shared` on all its edges that are not blocked.
    3. Components: the edges still `stitched` join record nodes and identifier nodes (a `record` edge joins
       two records); components come from `connected_components` (label propagation, bounded by the
       `identity_max_passes` var).
    4. Limits: a component holding more distinct values of a type than the type's `max_per_customer` is
       rebuilt exactly as in Python: its edges are taken one at a time in the order (priority, identifier
       type, identifier value, record key), comparing text by code point, and an edge that would join two
       parts holding together more values of a type than allowed is `over_limit`. The components that break
       a limit are independent, so each step takes the next edge of every such component at once: the number
       of steps is the number of merges tried in the largest of them, not the number of edges overall.
    5. customer_key: the smallest record key (by code point) in the record's final component.

    The Python version also counts the values of records joined by strong match edges once against the limits;
    match edges come from probabilistic matching, which runs on DuckDB only, so on the engines this macro serves
    every value counts alone, as it does in Python on a graph without match edges.

    It differs from the Python version only in wording, never in decisions or keys: when one value is
    shared in several streams, the reason names the first stream in (source, stream) order (Python: the
    first in the order of the edges table); when one merge would break two limits at once, the reason names
    the type of higher priority, then first by name (Python: the first in the rules file).
-#}
{% macro stitch_identity_graph(edges, rules, blocklist) %}
    {#- The calling model drops its scratch tables once it is built (the final select reads them). -#}
    {%- do config(post_hook=["{{ tessera.drop_scratch_tables() }}"]) -%}
    {%- if not execute -%}
        {#- While parsing only the dependencies matter. -#}
        {{ return('select * from ' ~ edges) }}
    {%- endif -%}
    {%- set max_passes = var('identity_max_passes', 100) | int -%}

    {#- The rules must name every identifier type of the graph, as the Python version demands. -#}
    {%- set unknown = run_query(
        "select distinct edges.identifier_type from " ~ edges ~ " as edges where not exists (select 1 from "
        ~ rules ~ " as rules where rules.identifier_type = edges.identifier_type"
        ~ " and coalesce(trim(cast(rules.stream as " ~ dbt.type_string() ~ ")), '') = '') order by 1"
    ).columns[0].values() -%}
    {%- if unknown | length > 0 -%}
        {{ exceptions.raise_compiler_error(
            "identifier types " ~ (unknown | list) ~ " have no rule in identity_rules; add them"
        ) }}
    {%- endif -%}

    {#- 1-2. Every edge with its rules, the blocklist and the shared-value decisions. -#}
    {%- set decided = tessera.scratch_table('stitch_edges', tessera.screen_identity_edges(edges, rules, blocklist)) -%}

    {#- 3. Nodes (records and identifier values) with integer ids, the stitched edges between them. -#}
    {%- set nodes = tessera.scratch_table('stitch_nodes', "
        with endpoints as (
            select record_key as node_name, 1 as is_record, cast(null as " ~ dbt.type_string() ~ ") as node_type
            from " ~ decided ~ "
            union all
            select
                " ~ tessera._stitch_target_node('identifier_type', 'identifier_value') ~ " as node_name,
                case when identifier_type = 'record' then 1 else 0 end as is_record,
                case when identifier_type = 'record' then null else identifier_type end as node_type
            from " ~ decided ~ "
        )

        select
            row_number() over (order by node_name) as node_id,
            node_name,
            is_record,
            node_type
        from (
            select node_name, max(is_record) as is_record, max(node_type) as node_type
            from endpoints
            group by node_name
        ) as distinct_nodes
    ") -%}
    {%- set links = tessera.scratch_table('stitch_links', "
        select
            decided.edge_id,
            sources.node_id as src_id,
            targets.node_id as dst_id
        from " ~ decided ~ " as decided
        inner join " ~ nodes ~ " as sources on sources.node_name = decided.record_key
        inner join " ~ nodes ~ " as targets
            on targets.node_name = " ~ tessera._stitch_target_node('decided.identifier_type', 'decided.identifier_value') ~ "
    ") -%}
    {%- set adjacency = tessera.scratch_table('stitch_adjacency', "
        select links.src_id as node_id, links.dst_id as neighbour_id
        from " ~ links ~ " as links
        inner join " ~ decided ~ " as decided on decided.edge_id = links.edge_id
        where decided.decision = 'stitched'
        union
        select links.dst_id as node_id, links.src_id as neighbour_id
        from " ~ links ~ " as links
        inner join " ~ decided ~ " as decided on decided.edge_id = links.edge_id
        where decided.decision = 'stitched'
    ") -%}
    {%- set components = tessera.connected_components(adjacency, 'stitch_components', max_passes) -%}
    {%- set labels = tessera.scratch_table('stitch_labels', "
        select nodes.node_id, coalesce(components.label, nodes.node_id) as label, nodes.node_type
        from " ~ nodes ~ " as nodes
        left join " ~ components ~ " as components on components.node_id = nodes.node_id
    ") -%}

    {#- 4. Components holding more values of a type than allowed are rebuilt edge by edge. -#}
    {%- set rebuilt = tessera._stitch_rebuild_over_limit(decided, links, labels, rules) -%}

    {#- 5. Final components (rebuilt ones under fresh, negative labels) and their smallest record key. -#}
    {%- set final_labels = tessera.scratch_table('stitch_final_labels', "
        select
            labels.node_id,
            case when rebuilt.node_id is not null then -rebuilt.root else labels.label end as label
        from " ~ labels ~ " as labels
        left join " ~ rebuilt.nodes ~ " as rebuilt on rebuilt.node_id = labels.node_id
    ") -%}
    {%- set columns = adapter.get_columns_in_relation(edges) -%}
    {%- set output = [] -%}
    {%- for column in columns -%}
        {%- if column.name | lower == 'entity_key' -%}
            {%- do output.append('coalesce(decided.entity_key, decided.record_key) as entity_key') -%}
        {%- else -%}
            {%- do output.append('decided.' ~ adapter.quote(column.name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set final_sql -%}
        with customer_keys as (
            select final_labels.label, min({{ tessera.byte_order('nodes.node_name') }}) as customer_key
            from {{ final_labels }} as final_labels
            inner join {{ nodes }} as nodes on nodes.node_id = final_labels.node_id
            where nodes.is_record = 1
            group by final_labels.label
        )

        select
            {{ output | join(',\n            ') }},
            case when refused.edge_id is not null then 'over_limit' else decided.decision end as decision,
            case when refused.edge_id is not null then refused.reason else decided.reason end as reason,
            cast(customer_keys.customer_key as {{ dbt.type_string() }}) as customer_key
        from {{ decided }} as decided
        inner join {{ links }} as links on links.edge_id = decided.edge_id
        inner join {{ final_labels }} as final_labels on final_labels.node_id = links.src_id
        inner join customer_keys on customer_keys.label = final_labels.label
        left join {{ rebuilt.refused }} as refused on refused.edge_id = decided.edge_id
    {%- endset -%}
    {{ return(final_sql) }}
{% endmacro %}

{#- The node an edge points at: another record for `record` edges, else the identifier value of its type. -#}
{% macro _stitch_target_node(identifier_type, identifier_value) -%}
    case
        when {{ identifier_type }} = 'record' then {{ identifier_value }}
        else {{ dbt.concat(["chr(31)", identifier_type, "chr(31)", identifier_value]) }}
    end
{%- endmacro %}

{#-
    Steps 1-2 of stitching (the blocklist and shared values) for every edge, as one query: the edges with
    `edge_id`, `counted_entity` (entity_key, else the record), the rule that applies (`rule_priority`,
    `rule_max_entities`, `is_blocked`), `decision` (blocked, shared or stitched) and `reason`. Both
    stitching implementations use it: this macro's SQL stitching and, through the model
    `int_identity_edge_screening`, the Python model on DuckDB.
-#}
{% macro screen_identity_edges(edges, rules, blocklist) %}
    {%- set text = dbt.type_string() -%}
    {%- set sql -%}
        with edges as (
            select * from {{ edges }}
        ),

        rules as (
            select
                identifier_type,
                nullif(trim(cast(stream as {{ text }})), '') as stream,
                priority,
                max_per_customer,
                max_entities_per_value
            from {{ rules }}
        ),

        type_rules as (
            select * from rules where stream is null
        ),

        stream_rules as (
            select * from rules where stream is not null
        ),

        blocked as (
            select distinct
                cast(identifier_type as {{ text }}) as identifier_type,
                cast(identifier_value as {{ text }}) as identifier_value
            from {{ blocklist }}
        ),

        ruled as (
            select
                edges.*,
                coalesce(edges.entity_key, edges.record_key) as counted_entity,
                {#- A stream's row overrides the type's, even where it leaves a limit empty (no limit). -#}
                case when stream_rules.identifier_type is not null then stream_rules.priority else type_rules.priority end
                    as rule_priority,
                case
                    when stream_rules.identifier_type is not null then stream_rules.max_entities_per_value
                    else type_rules.max_entities_per_value
                end as rule_max_entities,
                case when blocked.identifier_type is not null then 1 else 0 end as is_blocked
            from edges
            left join type_rules on type_rules.identifier_type = edges.identifier_type
            left join stream_rules
                on stream_rules.identifier_type = edges.identifier_type and stream_rules.stream = edges.stream
            left join blocked
                on blocked.identifier_type = edges.identifier_type and blocked.identifier_value = edges.identifier_value
        ),

        crowded as (
            select
                identifier_type,
                identifier_value,
                source,
                stream,
                count(distinct counted_entity) as entities,
                max(rule_max_entities) as max_entities
            from ruled
            where is_blocked = 0 and rule_max_entities is not null
            group by identifier_type, identifier_value, source, stream
            having count(distinct counted_entity) > max(rule_max_entities)
        ),

        shared as (
            select
                identifier_type,
                identifier_value,
                {{ dbt.concat([
                    "'value is carried by '", "cast(entities as " ~ text ~ ")", "' distinct entities in '", "stream",
                    "' (more than '", "cast(max_entities as " ~ text ~ ")", "'): treated as shared'"
                ]) }} as reason
            from (
                select
                    crowded.*,
                    row_number() over (
                        partition by identifier_type, identifier_value
                        order by {{ tessera.byte_order('source') }}, {{ tessera.byte_order('stream') }}
                    ) as stream_rank
                from crowded
            ) as ranked
            where stream_rank = 1
        )

        select
            row_number() over (order by ruled.record_key, ruled.identifier_type, ruled.identifier_value) as edge_id,
            ruled.*,
            case
                when ruled.is_blocked = 1 then 'blocked'
                when shared.identifier_type is not null then 'shared'
                else 'stitched'
            end as decision,
            case
                when ruled.is_blocked = 1 then 'value is on the identity blocklist'
                when shared.identifier_type is not null then shared.reason
            end as reason
        from ruled
        left join shared
            on shared.identifier_type = ruled.identifier_type and shared.identifier_value = ruled.identifier_value
    {%- endset -%}
    {{ return(sql) }}
{% endmacro %}

{#-
    Step 4: rebuild every component that breaks a `max_per_customer` limit, edge by edge in priority order,
    refusing each edge that would break a limit: a union-find whose roots are rewritten into a fresh scratch
    table at each step (no `update`, which Spark's parquet tables lack). Returns the rebuilt nodes
    (node_id, root) and the refused edges (edge_id, reason).
-#}
{% macro _stitch_rebuild_over_limit(decided, links, labels, rules) %}
    {%- set text = dbt.type_string() -%}
    {%- set limits = tessera.scratch_table('stitch_limits', "
        select identifier_type, priority, max_per_customer
        from " ~ rules ~ "
        where nullif(trim(cast(stream as " ~ text ~ ")), '') is null
            and max_per_customer is not null
            and identifier_type <> 'record'
    ") -%}
    {%- set edges = tessera.scratch_table('stitch_rebuild_edges', "
        with stitched as (
            select decided.edge_id, decided.identifier_type, decided.identifier_value, decided.record_key,
                decided.rule_priority, links.src_id, links.dst_id, labels.label as component
            from " ~ decided ~ " as decided
            inner join " ~ links ~ " as links on links.edge_id = decided.edge_id
            inner join " ~ labels ~ " as labels on labels.node_id = links.src_id
            where decided.decision = 'stitched'
        ),

        over_limit as (
            select distinct counted.component
            from (
                select stitched.component, stitched.identifier_type, count(distinct stitched.dst_id) as values_held
                from stitched
                group by stitched.component, stitched.identifier_type
            ) as counted
            inner join " ~ limits ~ " as limits on limits.identifier_type = counted.identifier_type
            where counted.values_held > limits.max_per_customer
        )

        select
            stitched.component,
            row_number() over (
                partition by stitched.component
                order by
                    stitched.rule_priority,
                    " ~ tessera.byte_order('stitched.identifier_type') ~ ",
                    " ~ tessera.byte_order('stitched.identifier_value') ~ ",
                    " ~ tessera.byte_order('stitched.record_key') ~ "
            ) as step,
            stitched.edge_id,
            stitched.src_id,
            stitched.dst_id
        from stitched
        inner join over_limit on over_limit.component = stitched.component
    ") -%}
    {%- set nodes = tessera.scratch_table('stitch_rebuild_nodes_0', "
        select distinct endpoints.component, endpoints.node_id, endpoints.node_id as root, labels.node_type
        from (
            select component, src_id as node_id from " ~ edges ~ "
            union
            select component, dst_id as node_id from " ~ edges ~ "
        ) as endpoints
        inner join " ~ labels ~ " as labels on labels.node_id = endpoints.node_id
    ") -%}
    {%- set refused = tessera.scratch_table('stitch_rebuild_refused', "
        select edge_id, cast(null as " ~ text ~ ") as reason from " ~ edges ~ " where 1 = 0
    ") -%}
    {%- set bound = run_query('select coalesce(max(step), 0) from ' ~ edges).columns[0].values()[0] | int -%}
    {%- set state = namespace(nodes=nodes, pending=1, steps=0) -%}
    {%- for step in range(bound + 1) -%}
        {#- The next edge of every component that would join two different parts of it, with the limit it
            would break, if any. An edge already refused is done with; an edge inside one part changes
            nothing and stays stitched (parts only grow, so it stays inside one). -#}
        {%- set verdicts = tessera.scratch_table('stitch_rebuild_step', "
            with pending as (
                select edges.component, edges.step, edges.edge_id, sources.root as src_root, targets.root as dst_root
                from " ~ edges ~ " as edges
                inner join " ~ state.nodes ~ " as sources on sources.node_id = edges.src_id
                inner join " ~ state.nodes ~ " as targets on targets.node_id = edges.dst_id
                left join " ~ refused ~ " as refused on refused.edge_id = edges.edge_id
                where sources.root <> targets.root and refused.edge_id is null
            ),

            next_edges as (
                select pending.*
                from pending
                inner join (
                    select component, min(step) as step from pending group by component
                ) as firsts on firsts.component = pending.component and firsts.step = pending.step
            ),

            broken as (
                select
                    next_edges.edge_id,
                    limits.identifier_type,
                    limits.priority,
                    limits.max_per_customer,
                    count(*) as values_held
                from next_edges
                inner join " ~ state.nodes ~ " as nodes
                    on nodes.component = next_edges.component and nodes.root in (next_edges.src_root, next_edges.dst_root)
                inner join " ~ limits ~ " as limits on limits.identifier_type = nodes.node_type
                group by next_edges.edge_id, limits.identifier_type, limits.priority, limits.max_per_customer
                having count(*) > limits.max_per_customer
            ),

            first_broken as (
                select *
                from (
                    select
                        broken.*,
                        row_number() over (
                            partition by broken.edge_id
                            order by broken.priority, " ~ tessera.byte_order('broken.identifier_type') ~ "
                        ) as breach_rank
                    from broken
                ) as ranked
                where breach_rank = 1
            )

            select
                next_edges.component,
                next_edges.edge_id,
                next_edges.src_root,
                next_edges.dst_root,
                case when first_broken.edge_id is not null then " ~ dbt.concat([
                    "'stitching would give one customer '", "cast(first_broken.values_held as " ~ text ~ ")", "' '",
                    "first_broken.identifier_type", "' values (max '", "cast(first_broken.max_per_customer as " ~ text ~ ")", "')'"
                ]) ~ " end as reason
            from next_edges
            left join first_broken on first_broken.edge_id = next_edges.edge_id
        ", analyze=false) -%}
        {%- set state.pending = run_query('select count(*) from ' ~ verdicts).columns[0].values()[0] | int -%}
        {%- if state.pending > 0 -%}
            {%- set state.steps = step + 1 -%}
            {% do run_query(
                'insert into ' ~ refused ~ ' (edge_id, reason) select edge_id, reason from ' ~ verdicts
                ~ ' where reason is not null'
            ) %}
            {#- Union: the target's part joins the source's part (Python: parent[b] = a). -#}
            {%- set merged = tessera.scratch_table('stitch_rebuild_nodes_' ~ ((step + 1) % 2), "
                select
                    nodes.component,
                    nodes.node_id,
                    case
                        when verdicts.reason is null and verdicts.dst_root = nodes.root then verdicts.src_root
                        else nodes.root
                    end as root,
                    nodes.node_type
                from " ~ state.nodes ~ " as nodes
                left join " ~ verdicts ~ " as verdicts on verdicts.component = nodes.component
            ") -%}
            {%- do tessera.drop_scratch_table(state.nodes) -%}
            {%- set state.nodes = merged -%}
        {%- else -%}
            {%- break -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if state.pending > 0 -%}
        {{ exceptions.raise_compiler_error(
            "rebuilding identity components over their limits did not finish in " ~ bound ~ " steps; this is a bug"
        ) }}
    {%- endif -%}
    {{ log("identity components over a limit: rebuilt in " ~ state.steps ~ " steps") }}
    {{ return({'nodes': state.nodes, 'refused': refused}) }}
{% endmacro %}
