"""Deterministic identity stitching: connected components over the identity graph, with merge protection.

Nodes are source records and identifier values; an edge says "this record carries this identifier"
(type `record` edges say "these two records are the same person", e.g. probabilistic matches).
Connected components are customers. Merge protection keeps bad edges out, as configured per
identifier type:

- values on the blocklist never stitch;
- a value carried by more than `max_entities_per_value` distinct entities (a store's default receipt
  email, a family laptop's cookie) is *shared* and does not stitch;
- a customer holds at most `max_per_customer` values of a type (one CRM contact, a few emails). Where a
  plain component breaks a limit it is rebuilt edge by edge in priority order, and each edge that would
  break a limit is dropped, with the reason recorded.

Components come from scipy's sparse-graph routine over all edges at once; only the components that
break a limit are rebuilt edge by edge, and those are few and small.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

RECORD = "record"
STITCHED, BLOCKED, SHARED, OVER_LIMIT = "stitched", "blocked", "shared", "over_limit"

EDGE_COLUMNS = ("record_key", "identifier_type", "identifier_value", "entity_key")


@dataclass(frozen=True)
class IdentifierRule:
    """How one identifier type may stitch records together."""

    identifier_type: str
    priority: int
    max_per_customer: int | None = None
    max_entities_per_value: int | None = None


def rules_from_rows(rows: Iterable[Mapping]) -> dict[str, IdentifierRule]:
    """Rules from rows of the `identity_rules` seed, with errors that name the row and field."""
    rules = {}
    for i, row in enumerate(rows, start=1):
        try:
            rule = IdentifierRule(
                identifier_type=str(row["identifier_type"]).strip(),
                priority=int(row["priority"]),
                max_per_customer=_optional_int(row.get("max_per_customer")),
                max_entities_per_value=_optional_int(row.get("max_entities_per_value")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"identity_rules row {i} ({dict(row)}): {exc}") from None
        if rule.identifier_type in rules:
            raise ValueError(f"identity_rules: identifier_type {rule.identifier_type!r} is listed twice")
        rules[rule.identifier_type] = rule
    return rules


def _optional_int(value) -> int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return None
    number = int(value)
    if number < 1:
        raise ValueError(f"limits must be at least 1, got {number}")
    return number


def stitch(
    edges: pa.Table | pd.DataFrame,
    rules: Mapping[str, IdentifierRule],
    blocklist: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Decide every edge and assign every record to a customer.

    Returns the edges with `decision` (stitched/blocked/shared/over_limit), `reason` and
    `customer_key` (the smallest record key of the record's component: deterministic for a given graph).
    """
    df = (edges.to_pandas() if isinstance(edges, pa.Table) else edges.copy()).reset_index(drop=True)
    missing = set(EDGE_COLUMNS) - set(df.columns) - {"entity_key"}
    if missing:
        raise ValueError(f"identity edges lack columns {sorted(missing)}")
    if "entity_key" not in df.columns:
        df["entity_key"] = df["record_key"]
    df["entity_key"] = df["entity_key"].fillna(df["record_key"])
    unknown = set(df["identifier_type"].unique()) - set(rules)
    if unknown:
        raise ValueError(f"identifier types {sorted(unknown)} have no rule in identity_rules; add them")

    df["decision"] = STITCHED
    df["reason"] = None
    _apply_blocklist(df, blocklist)
    _apply_shared_values(df, rules)

    usable = df["decision"].eq(STITCHED).to_numpy()
    record_nodes = df["record_key"].to_numpy(dtype=object)
    is_record_edge = df["identifier_type"].eq(RECORD).to_numpy()
    target_nodes = np.where(
        is_record_edge,
        df["identifier_value"].to_numpy(dtype=object),
        ("\x1f" + df["identifier_type"] + "\x1f" + df["identifier_value"]).to_numpy(dtype=object),
    )
    codes, nodes = pd.factorize(np.concatenate([record_nodes, target_nodes]))
    n_edges = len(df)
    src, dst = codes[:n_edges], codes[n_edges:]
    labels = _components(src[usable], dst[usable], len(nodes))

    over = _components_over_limit(df, usable, labels[src], dst, rules)
    if over.size:
        labels = _rebuild_over_limit(df, usable, src, dst, labels, over, rules)

    is_record_node = np.zeros(len(nodes), dtype=bool)
    is_record_node[src] = True
    is_record_node[dst[is_record_edge]] = True
    node_names = np.asarray(nodes, dtype=object)
    keys = pd.Series(node_names[is_record_node]).groupby(labels[is_record_node]).min()
    df["customer_key"] = keys.reindex(labels[src]).to_numpy()
    return df


def _apply_blocklist(df: pd.DataFrame, blocklist: pd.DataFrame | None) -> None:
    if blocklist is None or blocklist.empty:
        return
    keys = blocklist[["identifier_type", "identifier_value"]].astype(str)
    hit = pd.MultiIndex.from_frame(df[["identifier_type", "identifier_value"]]).isin(pd.MultiIndex.from_frame(keys))
    df.loc[hit, "decision"] = BLOCKED
    df.loc[hit, "reason"] = "value is on the identity blocklist"


def _apply_shared_values(df: pd.DataFrame, rules: Mapping[str, IdentifierRule]) -> None:
    limits = df["identifier_type"].map({t: r.max_entities_per_value for t, r in rules.items()})
    candidate = df["decision"].eq(STITCHED) & limits.notna()
    if not candidate.any():
        return
    sub = df.loc[candidate, ["identifier_type", "identifier_value", "entity_key"]]
    counts = sub.groupby(["identifier_type", "identifier_value"])["entity_key"].transform("nunique")
    shared_idx = counts.index[counts.to_numpy() > limits[candidate].to_numpy()]
    df.loc[shared_idx, "decision"] = SHARED
    df.loc[shared_idx, "reason"] = (
        "value is carried by "
        + counts.loc[shared_idx].astype(str)
        + " distinct entities (more than "
        + limits.loc[shared_idx].astype(int).astype(str)
        + "): treated as shared"
    )


def _components(src: np.ndarray, dst: np.ndarray, n_nodes: int) -> np.ndarray:
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    return labels


def _components_over_limit(df, usable, edge_labels, dst, rules) -> np.ndarray:
    limited = {t: r.max_per_customer for t, r in rules.items() if r.max_per_customer and t != RECORD}
    if not limited:
        return np.array([], dtype=np.int64)
    types = df["identifier_type"].to_numpy()
    mask = usable & np.isin(types, list(limited))
    frame = pd.DataFrame({"label": edge_labels[mask], "type": types[mask], "node": dst[mask]})
    counts = frame.drop_duplicates().groupby(["label", "type"]).size().reset_index(name="n")
    counts["max"] = counts["type"].map(limited)
    return counts.loc[counts["n"] > counts["max"], "label"].unique()


def _rebuild_over_limit(df, usable, src, dst, labels, over, rules) -> np.ndarray:
    """Union edges of over-limit components one by one, strongest first, refusing limit-breaking ones."""
    in_over = usable & np.isin(labels[src], over)
    order = (
        df.loc[in_over]
        .assign(_priority=df.loc[in_over, "identifier_type"].map({t: r.priority for t, r in rules.items()}))
        .sort_values(["_priority", "identifier_type", "identifier_value", "record_key"], kind="stable")
    )
    limits = {t: r.max_per_customer for t, r in rules.items() if r.max_per_customer and t != RECORD}
    parent: dict[int, int] = {}
    counts: dict[int, dict[str, int]] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    node_type = {}
    for idx, t in zip(order.index, order["identifier_type"], strict=True):
        if t != RECORD:
            node_type[dst[idx]] = t
    for node, t in node_type.items():
        counts[node] = {t: 1}

    decisions, reasons = [], []
    for idx in order.index:
        a, b = find(src[idx]), find(dst[idx])
        if a == b:
            continue
        ca, cb = counts.get(a, {}), counts.get(b, {})
        broken = [k for k, m in limits.items() if ca.get(k, 0) + cb.get(k, 0) > m]
        if broken:
            decisions.append(idx)
            k = broken[0]
            reasons.append(
                f"stitching would give one customer {ca.get(k, 0) + cb.get(k, 0)} {k} values (max {limits[k]})"
            )
            continue
        parent[b] = a
        merged = dict(ca)
        for k, n in cb.items():
            merged[k] = merged.get(k, 0) + n
        counts[a] = merged
        counts.pop(b, None)

    df.loc[decisions, "decision"] = OVER_LIMIT
    df.loc[decisions, "reason"] = reasons
    # Relabel: nodes of rebuilt components get fresh labels from their union-find roots.
    labels = labels.copy()
    touched = np.unique(np.concatenate([src[in_over], dst[in_over]]))
    fresh = labels.max() + 1
    roots = np.array([find(int(n)) for n in touched])
    _, root_ids = np.unique(roots, return_inverse=True)
    labels[touched] = fresh + root_ids
    return labels
