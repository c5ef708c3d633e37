"""Stitching: connected components with per-customer limits (transforms/identity/stitching.py), on screened edges.

A Python model because connected components over millions of edges want a graph library (scipy), not
iterated SQL. Blocklist and shared values are decided over the whole graph beforehand
(`int_identity_edge_screening`), so everything left here is per component, and an incremental run
re-stitches only the components whose edges changed (transforms/identity/incremental_stitching.py): the result
is upserted by `record_key`, and records without edges any more arrive as `removed` rows that the
post-hook deletes. `tessera transform --full-refresh` stitches the whole graph again.

A full build hands stitching numbers, not strings: the warehouse numbers records and identifier values and
joins the customers and refused edges back onto the edges (`stitch_all`), so millions of edges' strings
never pass through Python.
"""


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key="record_key",
        on_schema_change="fail",
    )
    from datetime import UTC, datetime

    from transforms.identity.incremental_stitching import restitch, stitch_all
    from transforms.identity.stitching import rules_from_rows

    screened = dbt.ref("int_identity_edge_screening").sql_query()
    screened = f"({screened})"
    rules = rules_from_rows(dbt.ref("identity_rules").to_arrow_table().to_pylist())
    decided_at = datetime.now(UTC)
    if not dbt.is_incremental:
        return stitch_all(session, screened, rules, decided_at)
    from dbt_common.events.functions import fire_event
    from dbt_common.events.types import Note

    result = restitch(session, screened, str(dbt.this), rules, decided_at)
    fire_event(
        Note(
            msg=f"stitching: re-stitched {result.records_restitched:,} of {result.records_total:,} records,"
            f" refreshed {result.records_refreshed:,}, removed {result.records_removed:,}"
        )
    )
    return result.rows
