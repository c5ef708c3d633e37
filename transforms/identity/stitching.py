"""Deterministic identity stitching: connected components over the identity graph, with merge protection.

Nodes are source records and identifier values; an edge says "this record carries this identifier"
(type `record` edges say "these two records are the same person", e.g. probabilistic matches).
Connected components are customers. Merge protection keeps bad edges out, as configured per
identifier type:

- values on the blocklist never stitch;
- a value carried by more than `max_entities_per_value` distinct entities within one stream (a store's
  default receipt email on many shoppers' receipts, a family laptop's cookie with two people logging in)
  is *shared* and does not stitch. Counting within a stream lets one person's email appear once in the
  CRM, once in the ESP and once at the loyalty desk, while two CRM contacts with one email stand out;
- a customer holds at most `max_per_customer` values of a type (one CRM contact, a few emails). Where a
  plain component breaks a limit it is rebuilt edge by edge in priority order, and each edge that would
  break a limit is dropped, with the reason recorded. The limits stop chains through shared or
  conflicting identifiers, not evidence that records are one person: values carried by records that
  strong match edges (`match_probability` at least `strong_match`) join count once, so a CRM holding
  five copies of one person deduplicates into one customer.

Components come from scipy's sparse-graph routine over all edges at once; only the components that
break a limit are rebuilt edge by edge, and those are few and small.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

RECORD = "record"
STITCHED, BLOCKED, SHARED, OVER_LIMIT = "stitched", "blocked", "shared", "over_limit"

EDGE_COLUMNS = ("record_key", "identifier_type", "identifier_value", "entity_key")
#: A record edge at least this likely says its two records are one person: their identifiers count once
#: against the per-customer limits.
STRONG_MATCH_PROBABILITY = 0.99


@dataclass(frozen=True)
class IdentifierRule:
    """How one identifier type may stitch records together (in one stream, when `stream` is set)."""

    identifier_type: str
    priority: int
    max_per_customer: int | None = None
    max_entities_per_value: int | None = None
    stream: str | None = None


@dataclass(frozen=True)
class RuleBook:
    """The rules per identifier type, and per-stream overrides of priority and sharing (e.g. receipt
    emails typed in at a till deserve less trust than the email a customer registered with)."""

    by_type: Mapping[str, IdentifierRule]
    by_stream: Mapping[tuple[str, str], IdentifierRule] = field(default_factory=dict)

    def edge_values(self, df: pd.DataFrame, attribute: str) -> pd.Series:
        """The rule's `attribute` for every edge, the stream's override winning over the type's rule."""
        values = df["identifier_type"].map({t: getattr(r, attribute) for t, r in self.by_type.items()})
        if self.by_stream and "stream" in df.columns:
            keys = pd.Series(list(zip(df["identifier_type"], df["stream"], strict=True)), index=df.index)
            overrides = keys.map({k: getattr(r, attribute) for k, r in self.by_stream.items()})
            values = overrides.where(keys.isin(list(self.by_stream)), values)
        return values


def rules_from_rows(rows: Iterable[Mapping]) -> RuleBook:
    """Rules from rows of the `identity_rules` seed, with errors that name the row and field."""
    by_type: dict[str, IdentifierRule] = {}
    by_stream: dict[tuple[str, str], IdentifierRule] = {}
    for i, row in enumerate(rows, start=1):
        try:
            stream = row.get("stream")
            stream = None if stream is None or pd.isna(stream) or str(stream).strip() == "" else str(stream).strip()
            rule = IdentifierRule(
                identifier_type=str(row["identifier_type"]).strip(),
                priority=int(row["priority"]),
                max_per_customer=_optional_int(row.get("max_per_customer")),
                max_entities_per_value=_optional_int(row.get("max_entities_per_value")),
                stream=stream,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"identity_rules row {i} ({dict(row)}): {exc}") from None
        key = (rule.identifier_type, rule.stream)
        if (rule.identifier_type if rule.stream is None else key) in (by_type if rule.stream is None else by_stream):
            raise ValueError(f"identity_rules: {rule.identifier_type!r} (stream {rule.stream!r}) is listed twice")
        if rule.stream is None:
            by_type[rule.identifier_type] = rule
        else:
            by_stream[key] = rule
    missing = {t for t, _ in by_stream} - set(by_type)
    if missing:
        raise ValueError(f"identity_rules: stream overrides for {sorted(missing)} need a default row (empty stream)")
    return RuleBook(by_type, by_stream)


def _optional_int(value) -> int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return None
    number = int(value)
    if number < 1:
        raise ValueError(f"limits must be at least 1, got {number}")
    return number


def stitch(
    edges: pa.Table | pd.DataFrame,
    rules: RuleBook | Mapping[str, IdentifierRule],
    blocklist: pd.DataFrame | None = None,
    strong_match: float | None = STRONG_MATCH_PROBABILITY,
) -> pd.DataFrame:
    """Decide every edge and assign every record to a customer.

    Returns the edges with `decision` (stitched/blocked/shared/over_limit), `reason` and
    `customer_key` (the smallest record key of the record's component: deterministic for a given graph).
    Edges that come with a `decision` column were screened already (blocklist and shared values); then
    `blocklist` is not used, and only the per-customer limits and components are decided here.
    Record edges with a `match_probability` of at least `strong_match` (None: none) are strong: the
    identifiers of the records they join count once against the per-customer limits.
    """
    df = (edges.to_pandas() if isinstance(edges, pa.Table) else edges.copy()).reset_index(drop=True)
    missing = set(EDGE_COLUMNS) - set(df.columns) - {"entity_key"}
    if missing:
        raise ValueError(f"identity edges lack columns {sorted(missing)}")
    if "entity_key" not in df.columns:
        df["entity_key"] = df["record_key"]
    df["entity_key"] = df["entity_key"].fillna(df["record_key"])
    rules = rules if isinstance(rules, RuleBook) else RuleBook(dict(rules))
    unknown = set(df["identifier_type"].unique()) - set(rules.by_type)
    if unknown:
        raise ValueError(f"identifier types {sorted(unknown)} have no rule in identity_rules; add them")

    if "decision" in df.columns:
        # Screened already (the dbt model int_identity_edge_screening decided blocklist and shared values
        # over the whole graph); what is left is per component.
        df["reason"] = df["reason"] if "reason" in df.columns else None
    else:
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

    groups = _limit_groups(df, usable, src, dst, is_record_edge, len(nodes), rules, strong_match)
    over = _components_over_limit(df, usable, labels[src], groups[dst], rules)
    if over.size:
        labels = _rebuild_over_limit(df, usable, src, dst, labels, over, rules, groups)

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


def _apply_shared_values(df: pd.DataFrame, rules: RuleBook) -> None:
    """Mark every edge of a value that more than the allowed number of entities carry in some stream."""
    limits = rules.edge_values(df, "max_entities_per_value")
    candidate = df["decision"].eq(STITCHED) & limits.notna()
    if not candidate.any():
        return
    streams = [c for c in ("source", "stream") if c in df.columns]
    sub = df.loc[candidate, ["identifier_type", "identifier_value", *streams, "entity_key"]].copy()
    sub["entities"] = sub.groupby(["identifier_type", "identifier_value", *streams])["entity_key"].transform("nunique")
    sub["limit"] = limits[candidate]
    over = sub[sub["entities"] > sub["limit"]]
    if over.empty:
        return
    where = over["stream"] if "stream" in over.columns else pd.Series("one stream", index=over.index)
    why = (
        "value is carried by "
        + over["entities"].astype(str)
        + " distinct entities in "
        + where.astype(str)
        + " (more than "
        + over["limit"].astype(int).astype(str)
        + "): treated as shared"
    )
    reasons = why.groupby([over["identifier_type"], over["identifier_value"]]).first()
    keys = pd.MultiIndex.from_frame(df[["identifier_type", "identifier_value"]])
    shared = keys.isin(reasons.index) & df["decision"].eq(STITCHED).to_numpy()
    df.loc[shared, "decision"] = SHARED
    df.loc[shared, "reason"] = reasons.reindex(keys[shared]).to_numpy()


def _components(src: np.ndarray, dst: np.ndarray, n_nodes: int) -> np.ndarray:
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    return labels


def _limit_groups(df, usable, src, dst, is_record_edge, n_nodes, rules, strong_match) -> np.ndarray:
    """Per node, what it counts as against a per-customer limit: itself, except that the values a strong
    match cluster of records carries count as one (the cluster's smallest node id, offset past the nodes)."""
    groups = np.arange(n_nodes)
    if strong_match is None or "match_probability" not in df.columns:
        return groups
    probability = pd.to_numeric(df["match_probability"], errors="coerce").to_numpy(dtype=float)
    strong = usable & is_record_edge & (np.nan_to_num(probability, nan=-1.0) >= strong_match)
    if not strong.any():
        return groups
    clusters = _components(src[strong], dst[strong], n_nodes)
    in_cluster = np.zeros(n_nodes, dtype=bool)
    in_cluster[src[strong]] = in_cluster[dst[strong]] = True
    limited = [t for t, r in rules.by_type.items() if r.max_per_customer and t != RECORD]
    carried = usable & ~is_record_edge & df["identifier_type"].isin(limited).to_numpy() & in_cluster[src]
    if carried.any():
        first = pd.Series(n_nodes + clusters[src[carried]]).groupby(dst[carried]).min()
        groups[first.index.to_numpy()] = first.to_numpy()
    return groups


def _components_over_limit(df, usable, edge_labels, dst_groups, rules) -> np.ndarray:
    limited = {t: r.max_per_customer for t, r in rules.by_type.items() if r.max_per_customer and t != RECORD}
    if not limited:
        return np.array([], dtype=np.int64)
    types = df["identifier_type"].to_numpy()
    mask = usable & np.isin(types, list(limited))
    frame = pd.DataFrame({"label": edge_labels[mask], "type": types[mask], "node": dst_groups[mask]})
    counts = frame.drop_duplicates().groupby(["label", "type"]).size().reset_index(name="n")
    counts["max"] = counts["type"].map(limited)
    return counts.loc[counts["n"] > counts["max"], "label"].unique()


def _rebuild_over_limit(df, usable, src, dst, labels, over, rules, groups) -> np.ndarray:
    """Union edges of over-limit components one by one, strongest first, refusing limit-breaking ones."""
    in_over = usable & np.isin(labels[src], over)
    order = (
        df.loc[in_over]
        .assign(_priority=rules.edge_values(df.loc[in_over], "priority"))
        .sort_values(["_priority", "identifier_type", "identifier_value", "record_key"], kind="stable")
    )
    limits = {t: r.max_per_customer for t, r in rules.by_type.items() if r.max_per_customer and t != RECORD}
    parent: dict[int, int] = {}
    held: dict[int, dict[str, frozenset[int]]] = {}  # per part: the limit groups it holds, by type

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
        held[node] = {t: frozenset((int(groups[node]),))}

    empty: frozenset[int] = frozenset()
    decisions, reasons = [], []
    for idx in order.index:
        a, b = find(src[idx]), find(dst[idx])
        if a == b:
            continue
        ha, hb = held.get(a, {}), held.get(b, {})
        merged = {k: ha.get(k, empty) | hb.get(k, empty) for k in ha.keys() | hb.keys()}
        broken = [k for k, m in limits.items() if len(merged.get(k, empty)) > m]
        if broken:
            decisions.append(idx)
            k = broken[0]
            reasons.append(f"stitching would give one customer {len(merged[k])} {k} values (max {limits[k]})")
            continue
        parent[b] = a
        held[a] = merged
        held.pop(b, None)

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
