{#-
    Deterministic stitching in portable SQL, for engines where dbt does not run Python models (PostgreSQL):
    the same decisions, reasons and customer keys as the Python model `../int_identity_resolution.py`
    (transforms/identity_graph.py), which builds this model on DuckDB. `macros/identity/stitch_identity_graph.sql`
    says how, and docs/warehouse-engines.md where the two differ.
-#}
{{ stitch_identity_graph(ref('int_identity_edges'), ref('identity_rules'), ref('identity_blocklist')) }}
