{#-
    Fails with one row per problem in a segment's `config.meta.activations` (docs/segments.md): an unknown key,
    a missing destination or mode, a value outside the allowed set, a `fields` column that neither the segment
    nor golden_customers has, the same destination twice, or no exposure whose label names each destination.
    The activation engine reads that block from the manifest, so a typo fails `dbt build`, not a sync.
-#}
{% test valid_activations(model) %}
{%- set problems = [] -%}
{#- Outside `if execute`, so dbt records the dependency when it parses the test. -#}
{%- set golden_customers = ref('golden_customers') -%}
{%- if execute -%}
    {%- set allowed = {
        'mode': ['mirror', 'add_remove', 'upsert', 'snapshot'],
        'consent': ['marketing', 'none'],
        'identifiers': ['email', 'phone'],
    } -%}
    {%- set keys = ['destination', 'mode', 'schedule', 'identifiers', 'consent', 'fields'] -%}
    {%- set ns = namespace(node=none) -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.schema == model.schema
            and (node.alias or node.name) == model.identifier -%}
            {%- set ns.node = node -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set activations = ns.node.config.meta.get('activations', []) if ns.node else [] -%}
    {%- set columns = [] -%}
    {%- for column in adapter.get_columns_in_relation(model)
        + adapter.get_columns_in_relation(golden_customers) -%}
        {%- do columns.append(column.name | lower) -%}
    {%- endfor -%}
    {%- set labels = [] -%}
    {%- for exposure in graph.exposures.values() -%}
        {%- if ns.node and ns.node.unique_id in exposure.depends_on.nodes -%}
            {%- do labels.append(exposure.label or exposure.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set seen = [] -%}
    {%- if activations is string or activations is mapping or activations is not iterable -%}
        {%- do problems.append('activations must be a list') -%}
        {%- set activations = [] -%}
    {%- endif -%}
    {%- for activation in activations -%}
        {%- set where = 'activation ' ~ loop.index -%}
        {%- if activation is not mapping -%}
            {%- do problems.append(where ~ ' must be a mapping') -%}
        {%- else -%}
            {%- for key in activation if key not in keys -%}
                {%- do problems.append(where ~ ': unknown key ' ~ key ~ ' (allowed: ' ~ keys | join(', ') ~ ')') -%}
            {%- endfor -%}
            {%- set destination = activation.get('destination') -%}
            {%- if destination is not string or not modules.re.match('^[a-z][a-z0-9_]*$', destination) -%}
                {%- do problems.append(where ~ ': destination must be a lower-case name ([a-z0-9_]), got ' ~ destination) -%}
            {%- else -%}
                {%- set where = 'activation ' ~ destination -%}
                {%- if destination in seen -%}
                    {%- do problems.append(where ~ ': destination declared twice') -%}
                {%- endif -%}
                {%- do seen.append(destination) -%}
                {%- set named = [] -%}
                {%- for label in labels if modules.re.search('\\b' ~ destination ~ '\\b', label) -%}
                    {%- do named.append(label) -%}
                {%- endfor -%}
                {%- if not named -%}
                    {%- do problems.append(where ~ ': no exposure on this segment names it in its label') -%}
                {%- endif -%}
            {%- endif -%}
            {%- if activation.get('mode') not in allowed['mode'] -%}
                {%- do problems.append(where ~ ': mode must be one of ' ~ allowed['mode'] | join(', ') ~ ', got ' ~ activation.get('mode')) -%}
            {%- endif -%}
            {%- if activation.get('consent', 'marketing') not in allowed['consent'] -%}
                {%- do problems.append(where ~ ': consent must be one of ' ~ allowed['consent'] | join(', ') ~ ', got ' ~ activation.get('consent')) -%}
            {%- endif -%}
            {%- set schedule = activation.get('schedule', '0 6 * * *') -%}
            {%- if schedule is not string or not (schedule.startswith('@') or schedule.split() | length == 5) -%}
                {%- do problems.append(where ~ ': schedule must be a cron expression such as 0 6 * * *, got ' ~ schedule) -%}
            {%- endif -%}
            {%- set identifiers = activation.get('identifiers', ['email']) -%}
            {%- set identifiers = [identifiers] if identifiers is string else identifiers -%}
            {%- if identifiers is mapping or identifiers is not iterable -%}
                {%- do problems.append(where ~ ': identifiers must be a list of ' ~ allowed['identifiers'] | join(', ')) -%}
            {%- else -%}
                {%- for identifier in identifiers if identifier not in allowed['identifiers'] -%}
                    {%- do problems.append(where ~ ': identifier ' ~ identifier ~ ' is not one of ' ~ allowed['identifiers'] | join(', ')) -%}
                {%- endfor -%}
            {%- endif -%}
            {%- set fields = activation.get('fields') or {} -%}
            {#- A list of columns sends each under its own name. -#}
            {%- if fields is sequence and fields is not string and fields is not mapping -%}
                {%- set listed = {} -%}
                {%- for column in fields -%}{%- do listed.update({column: column}) -%}{%- endfor -%}
                {%- set fields = listed -%}
            {%- endif -%}
            {%- if fields is not mapping -%}
                {%- do problems.append(where ~ ': fields must map destination fields to columns') -%}
            {%- else -%}
                {%- for field, column in fields.items() if column is not string or (column | lower) not in columns -%}
                    {%- do problems.append(where ~ ': field ' ~ field ~ ' maps to ' ~ column ~ ', a column of neither the segment nor golden_customers') -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}
{%- if problems %}
    {%- for problem in problems %}
select
    cast('{{ model.identifier }}' as {{ dbt.type_string() }}) as segment,
    cast('{{ problem | replace("'", "''") }}' as {{ dbt.type_string() }}) as problem
{% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- else %}
select
    cast(null as {{ dbt.type_string() }}) as segment,
    cast(null as {{ dbt.type_string() }}) as problem
where 1 = 0
{%- endif %}
{% endtest %}
