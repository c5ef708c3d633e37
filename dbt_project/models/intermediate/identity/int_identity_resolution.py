"""Deterministic stitching: connected components with merge protection (transforms/identity_graph.py).

A Python model because connected components over millions of edges want a graph library (scipy), not
iterated SQL; the rules come from the `identity_rules` and `identity_blocklist` seeds.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from transforms.identity_graph import rules_from_rows, stitch

    edges = dbt.ref("int_identity_edges").df()
    rules = rules_from_rows(dbt.ref("identity_rules").df().to_dict("records"))
    blocklist = dbt.ref("identity_blocklist").df()
    return stitch(edges, rules, blocklist)
