{#-
    Deterministic stitching in portable SQL, for engines where dbt does not run Python models (PostgreSQL):
    the same decisions, reasons and customer keys as the Python model `../int_identity_resolution.py`
    (transforms/identity/stitching.py), which builds this model on DuckDB. `macros/identity/stitch_identity_graph.sql`
    says how, and docs/warehouse-engines.md where the two differ. Here every run stitches the whole graph,
    so every edge's `decided_at` is this run's start.
-#}
with stitched as (
    {{ stitch_identity_graph(ref('int_identity_edges'), ref('identity_rules'), ref('identity_blocklist')) }}
)

select
    stitched.*,
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}) as decided_at
from stitched
