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

Merge protection should cost close to the graph algorithm itself, so the edges are read as Arrow and
factorised to integers once (every record and every identifier type and value becomes a node number);
the rules, shared values, limits and customer keys are then group-bys over integer arrays.
Components come from scipy's sparse-graph routine over all edges at once; only the components that
break a limit are rebuilt edge by edge, and those are few and small.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

RECORD = "record"
STITCHED, BLOCKED, SHARED, OVER_LIMIT = "stitched", "blocked", "shared", "over_limit"

EDGE_COLUMNS = ("record_key", "identifier_type", "identifier_value", "entity_key")
#: Columns stitching reads when the edges have them: streams for shared values, match probabilities for
#: strong matches, and the decisions of edges screened already.
OPTIONAL_COLUMNS = ("source", "stream", "match_probability", "decision", "reason")
#: A record edge at least this likely says its two records are one person: their identifiers count once
#: against the per-customer limits.
STRONG_MATCH_PROBABILITY = 0.99

BLOCKED_REASON = "value is on the identity blocklist"


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

    def limits_per_customer(self) -> dict[str, int]:
        """The per-customer limit of every limited type, in the rules' order (which names a broken limit)."""
        return {t: r.max_per_customer for t, r in self.by_type.items() if r.max_per_customer and t != RECORD}


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
    blocklist: pd.DataFrame | pa.Table | None = None,
    strong_match: float | None = STRONG_MATCH_PROBABILITY,
    *,
    numbered: bool = False,
) -> pa.Table | pd.DataFrame:
    """Decide every edge and assign every record to a customer.

    Returns the edges as given (an Arrow table stays Arrow, a pandas frame stays pandas) with
    `decision` (stitched/blocked/shared/over_limit), `reason` and `customer_key` (the smallest record key
    of the record's component: deterministic for a given graph), and `entity_key` filled with the record
    key where it is missing. Edges that come with a `decision` column were screened already (blocklist
    and shared values); then `blocklist` is not used, and only the per-customer limits and components
    are decided here. Record edges with a `match_probability` of at least `strong_match` (None: none)
    are strong: the identifiers of the records they join count once against the per-customer limits.

    `numbered` edges carry integers instead of strings, as the warehouse numbers them for a big graph
    (`incremental_stitching.stitch_all`): records `0 .. n - 1` in `record_key` (and in `identifier_value` of
    `record` edges), identifier values `0 .. m - 1` in `identifier_value`, each in the order of the strings
    they stand for, so that every decision is the one the strings get. The graph is then built without
    encoding anything, and `customer_key` is the smallest record number of the component.
    """
    table = _stitching_columns(edges)
    rules = rules if isinstance(rules, RuleBook) else RuleBook(dict(rules))
    graph = _numbered_graph(table) if numbered else _graph(table)
    unknown = set(graph.types.names.to_pylist()) - set(rules.by_type)
    if unknown:
        raise ValueError(f"identifier types {sorted(unknown)} have no rule in identity_rules; add them")
    entity_key = (
        pc.coalesce(table["entity_key"].cast(table["record_key"].type), table["record_key"])
        if "entity_key" in table.column_names
        else table["record_key"]
    )

    if "decision" in table.column_names:
        # Screened already (the dbt model int_identity_edge_screening decided blocklist and shared values
        # over the whole graph); what is left is per component.
        decision = table["decision"].cast(pa.string())
        reason = (
            table["reason"].cast(pa.string()) if "reason" in table.column_names else pa.nulls(len(table), pa.string())
        )
        usable = pc.equal(decision, STITCHED).fill_null(False).to_numpy()
    else:
        decision, reason, usable = _screen(table, graph, entity_key, rules, blocklist)

    labels = _components(graph.src[usable], graph.dst[usable], graph.n_nodes)
    limits = rules.limits_per_customer()
    groups = _limit_groups(table, graph, usable, limits, strong_match)
    over = _components_over_limit(graph, usable, labels, groups, limits)
    if over.size:
        priority = _rule_values(rules, "priority", graph.types, _streams(table))
        labels, refused, why = _rebuild_over_limit(table, graph, usable, labels, over, priority, limits, groups)
        if refused.size:
            is_refused = np.zeros(len(table), dtype=bool)
            is_refused[refused] = True
            # `refused` is in edge order, as replace_with_mask takes its replacements.
            decision = pc.if_else(pa.array(is_refused), OVER_LIMIT, decision)
            reason = pc.replace_with_mask(reason, pa.array(is_refused), pa.array(why, pa.string()))

    return _with_columns(
        edges,
        {
            "entity_key": entity_key,
            "decision": decision,
            "reason": reason,
            "customer_key": _customer_keys(graph, labels),
        },
    )


def _stitching_columns(edges: pa.Table | pd.DataFrame) -> pa.Table:
    """The columns stitching reads, as Arrow (from a pandas frame only those columns are converted)."""
    names = list(edges.column_names if isinstance(edges, pa.Table) else edges.columns)
    missing = set(EDGE_COLUMNS) - set(names) - {"entity_key"}
    if missing:
        raise ValueError(f"identity edges lack columns {sorted(missing)}")
    wanted = [c for c in (*EDGE_COLUMNS, *OPTIONAL_COLUMNS) if c in names]
    if isinstance(edges, pa.Table):
        table = edges.select(wanted)
    else:
        table = pa.Table.from_pandas(edges[wanted], preserve_index=False)
    for column in ("record_key", "identifier_type", "identifier_value"):
        if table[column].null_count:
            raise ValueError(f"identity edges have {table[column].null_count} rows without a {column}")
    return table


def _with_columns(edges: pa.Table | pd.DataFrame, columns: Mapping[str, pa.Array | pa.ChunkedArray]):
    """The edges as given, with `columns` replaced where the edges have them, else added at the end in order."""
    if isinstance(edges, pa.Table):
        for name, values in columns.items():
            at = edges.schema.get_field_index(name)
            edges = edges.set_column(at, name, values) if at >= 0 else edges.append_column(name, values)
        return edges
    frame = edges.reset_index(drop=True)
    return frame.assign(**{name: values.to_pandas() for name, values in columns.items()})


@dataclass(frozen=True)
class _Codes:
    """A column factorised: per row the position of its value in `names` (-1 for NULL)."""

    index: np.ndarray
    names: pa.Array


def _encode(column: pa.ChunkedArray) -> _Codes:
    """Arrow's hash factorisation, one dictionary for all chunks (no copy of the strings into one array)."""
    encoded = pc.dictionary_encode(column)
    if not encoded.num_chunks:
        return _Codes(np.empty(0, dtype=np.int64), pa.array([], column.type))
    index = np.concatenate([c.indices.fill_null(-1).to_numpy().astype(np.int64) for c in encoded.chunks])
    return _Codes(index, encoded.chunks[-1].dictionary)


@dataclass(frozen=True)
class _Graph:
    """The identity graph as integers. Records are nodes `0 .. len(record_names) - 1`, each
    (identifier type, value) a node after them; every edge joins its record `src` to `dst`, another
    record for a `record` edge, else the edge's (type, value) node."""

    src: np.ndarray
    dst: np.ndarray
    n_nodes: int
    record_names: pa.Array
    types: _Codes
    is_record_edge: np.ndarray


def _graph(table: pa.Table) -> _Graph:
    types = _encode(table["identifier_type"])
    is_record_edge = types.index == _position(types.names, RECORD)
    record_keys, values = table["record_key"], table["identifier_value"]
    matched = values.filter(pa.array(is_record_edge)).cast(record_keys.type)
    records = _encode(pa.chunked_array([*record_keys.chunks, *matched.chunks], record_keys.type))
    n_edges, n_records = table.num_rows, len(records.names)

    dst = np.empty(n_edges, dtype=np.int64)
    dst[is_record_edge] = records.index[n_edges:]
    carried = _encode(values.filter(pa.array(~is_record_edge)))
    value_nodes, n_value_nodes = _value_nodes(types.index[~is_record_edge], carried)
    dst[~is_record_edge] = n_records + value_nodes
    return _Graph(
        src=records.index[:n_edges],
        dst=dst,
        n_nodes=n_records + n_value_nodes,
        record_names=records.names,
        types=types,
        is_record_edge=is_record_edge,
    )


def _numbered_graph(table: pa.Table) -> _Graph:
    """The graph of numbered edges: records are their own numbers, and a value node follows the records."""
    types = _encode(table["identifier_type"])
    is_record_edge = types.index == _position(types.names, RECORD)
    src = _integers(table["record_key"])
    targets = _integers(table["identifier_value"])
    n_records = int(max(src.max(initial=-1), targets[is_record_edge].max(initial=-1))) + 1
    dst = np.where(is_record_edge, targets, targets + n_records)
    del targets
    return _Graph(
        src=src,
        dst=dst,
        n_nodes=int(dst.max(initial=n_records - 1)) + 1,
        record_names=pa.array(np.arange(n_records, dtype=np.int64)),
        types=types,
        is_record_edge=is_record_edge,
    )


def _integers(column: pa.ChunkedArray) -> np.ndarray:
    if column.null_count or not pa.types.is_integer(column.type):
        raise ValueError(
            f"numbered edges need integers without NULLs, got {column.type} with {column.null_count} NULLs"
        )
    return column.to_numpy().astype(np.int64, copy=False)


def _value_nodes(types: np.ndarray, values: _Codes) -> tuple[np.ndarray, int]:
    """One node per (identifier type, value): where no value string comes with two types (the usual
    case), the value's own code; else the pair's two codes as one integer, factorised again."""
    type_of_value = np.zeros(len(values.names), dtype=np.int64)
    type_of_value[values.index] = types
    if np.array_equal(type_of_value[values.index], types):
        return values.index, len(values.names)
    nodes, pairs = pd.factorize(types * max(len(values.names), 1) + values.index)
    return nodes, len(pairs)


def _position(names: pa.Array, name: str) -> int:
    """Where `name` is in `names`, -1 when it is not."""
    return int(pc.index(names, name).as_py()) if len(names) else -1


def _streams(table: pa.Table) -> _Codes | None:
    """The edges' streams factorised, where the edges name them (stream overrides and shared values need them)."""
    return _encode(table["stream"]) if "stream" in table.column_names else None


def _rule_values(rules: RuleBook, attribute: str, types: _Codes, streams: _Codes | None) -> np.ndarray:
    """The rule's `attribute` for every edge (NaN for none), the stream's override winning over the type's rule."""
    per_type = np.array([_number(getattr(rules.by_type[t], attribute)) for t in types.names.to_pylist()], dtype=float)
    values = per_type[types.index]
    if rules.by_stream and streams is not None:
        stream_names = streams.names.to_pylist()
        type_names = types.names.to_pylist()
        for (identifier_type, stream), rule in rules.by_stream.items():
            if identifier_type in type_names and stream in stream_names:
                hit = (types.index == type_names.index(identifier_type)) & (streams.index == stream_names.index(stream))
                values[hit] = _number(getattr(rule, attribute))
    return values


def _number(value: int | None) -> float:
    return np.nan if value is None else float(value)


def _screen(table, graph, entity_key, rules, blocklist) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Decisions and reasons from the blocklist and shared values; which edges stay usable for stitching."""
    decisions = pa.array([STITCHED, BLOCKED, SHARED])
    decision = np.zeros(table.num_rows, dtype=np.int8)
    reason_index = np.full(table.num_rows, -1, dtype=np.int64)
    blocked = _blocked(table, graph.types, blocklist)
    decision[blocked] = 1
    reason_index[blocked] = 0
    shared_reasons = _shared_values(table, graph, _streams(table), entity_key, rules, decision == 0)
    if shared_reasons is not None:
        reason_of_node, texts = shared_reasons
        shared = (decision == 0) & (reason_of_node[graph.dst] >= 0)
        decision[shared] = 2
        reason_index[shared] = 1 + reason_of_node[graph.dst[shared]]
    else:
        texts = pa.array([], pa.string())
    reasons = pa.concat_arrays([pa.array([BLOCKED_REASON], pa.string()), texts.cast(pa.string())])
    reason = reasons.take(pa.array(reason_index, mask=reason_index < 0))
    return decisions.take(decision), reason, decision == 0


def _blocked(table: pa.Table, types: _Codes, blocklist: pd.DataFrame | pa.Table | None) -> np.ndarray:
    blocked = np.zeros(table.num_rows, dtype=bool)
    if blocklist is None:
        return blocked
    listed = blocklist.to_pandas() if isinstance(blocklist, pa.Table) else blocklist
    listed = listed[["identifier_type", "identifier_value"]].astype(str)
    type_names = types.names.to_pylist()
    for identifier_type, values in listed.groupby("identifier_type")["identifier_value"]:
        if identifier_type in type_names:
            value_set = pa.array(values.unique(), pa.string()).cast(table["identifier_value"].type)
            on_list = pc.is_in(table["identifier_value"], value_set=value_set).to_numpy(zero_copy_only=False)
            blocked |= on_list & (types.index == type_names.index(identifier_type))
    return blocked


def _shared_values(table, graph, streams, entity_key, rules, candidate) -> tuple[np.ndarray, pa.Array] | None:
    """Values that more than the allowed number of entities carry in some stream: per node, the position of
    its reason in the texts returned (-1: not shared), or None when no value is shared.

    Entities are counted per (value, source, stream); an edge's own rule (its stream's) sets the limit, and
    the reason names the first edge, in table order, that breaks it."""
    limits = _rule_values(rules, "max_entities_per_value", graph.types, streams)
    keys = [graph.dst]
    if "source" in table.column_names:
        keys.append(_encode(table["source"]).index)
    if streams is not None:
        keys.append(streams.index)
    # Rows with a NULL source or stream are in no group (a pandas group-by drops NULL keys).
    rows = np.flatnonzero(candidate & ~np.isnan(limits) & np.logical_and.reduce([k >= 0 for k in keys]))
    if not rows.size:
        return None
    group = _dense(*(k[rows] for k in keys))
    entity = _encode(entity_key).index[rows]
    distinct = pd.unique(group * (entity.max() + 1) + entity) // (entity.max() + 1)
    entities = np.bincount(distinct, minlength=group.max() + 1)[group]
    breaking = entities > limits[rows]
    if not breaking.any():
        return None
    shared_nodes, first = _first_per_value(graph.dst[rows], breaking)
    where = (
        streams.names.take(pa.array(streams.index[rows[first]])).cast(pa.string())
        if streams is not None
        else pa.repeat(pa.scalar("one stream"), len(first))
    )
    texts = pc.binary_join_element_wise(
        "value is carried by ",
        pa.array(entities[first]).cast(pa.string()),
        " distinct entities in ",
        where,
        " (more than ",
        pa.array(limits[rows[first]].astype(np.int64)).cast(pa.string()),
        "): treated as shared",
        "",
    )
    reason_of_node = np.full(graph.n_nodes, -1, dtype=np.int64)
    reason_of_node[shared_nodes] = np.arange(len(first))
    return reason_of_node, texts


def _first_per_value(nodes: np.ndarray, breaking: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nodes whose value breaks a limit, and for each the position (among `nodes`) of its first breaking row."""
    positions = np.flatnonzero(breaking)
    shared_nodes, first = np.unique(nodes[positions], return_index=True)
    return shared_nodes, positions[first]


def _dense(*keys: np.ndarray) -> np.ndarray:
    """One dense group number per distinct combination of the (non-negative) integer keys."""
    group = pd.factorize(keys[0])[0]
    for key in keys[1:]:
        group = pd.factorize(group * (key.max() + 1) + key)[0]
    return group


def _components(src: np.ndarray, dst: np.ndarray, n_nodes: int) -> np.ndarray:
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    return labels


def _limit_groups(table, graph, usable, limits, strong_match) -> np.ndarray:
    """Per node, what it counts as against a per-customer limit: itself, except that the values a strong
    match cluster of records carries count as one (the cluster's smallest node id, offset past the nodes)."""
    groups = np.arange(graph.n_nodes)
    if strong_match is None or "match_probability" not in table.column_names:
        return groups
    probability = table["match_probability"].cast(pa.float64()).to_numpy()
    strong = usable & graph.is_record_edge & (np.nan_to_num(probability, nan=-1.0) >= strong_match)
    if not strong.any():
        return groups
    src, dst, n_records = graph.src, graph.dst, len(graph.record_names)
    # Match edges join records, which are the first nodes: the clusters need no others.
    clusters = _components(src[strong], dst[strong], n_records)
    in_cluster = np.zeros(n_records, dtype=bool)
    in_cluster[src[strong]] = in_cluster[dst[strong]] = True
    carried = usable & ~graph.is_record_edge & _limited(graph.types, limits) & in_cluster[src]
    if carried.any():
        unset = np.iinfo(np.int64).max
        first = np.full(graph.n_nodes, unset)
        np.minimum.at(first, dst[carried], graph.n_nodes + clusters[src[carried]])
        groups = np.where(first == unset, groups, first)
    return groups


def _limited(types: _Codes, limits: Mapping[str, int]) -> np.ndarray:
    """Per edge: does a per-customer limit apply to its type?"""
    return np.isin(types.index, [i for i, t in enumerate(types.names.to_pylist()) if t in limits])


def _components_over_limit(graph, usable, labels, groups, limits) -> np.ndarray:
    """The components holding more limit groups of a type than the type allows.

    Every value node lies in one component, so the groups of a type in a component are counted over its
    nodes: one each, except the nodes a strong match cluster merged into one group, which are few."""
    limited = usable & _limited(graph.types, limits)
    if not limited.any():
        return np.array([], dtype=np.int64)
    type_names = graph.types.names.to_pylist()
    type_of_node = np.full(graph.n_nodes, -1, dtype=np.int64)
    type_of_node[graph.dst[limited]] = graph.types.index[limited]
    nodes = np.flatnonzero(type_of_node >= 0)
    merged = groups[nodes] != nodes
    over = []
    for code, name in enumerate(type_names):
        if name not in limits:
            continue
        alone = nodes[(type_of_node[nodes] == code) & ~merged]
        held = np.bincount(labels[alone], minlength=len(labels))
        grouped = nodes[(type_of_node[nodes] == code) & merged]
        if grouped.size:
            spread = int(groups.max()) + 1
            distinct = pd.unique(labels[grouped].astype(np.int64) * spread + groups[grouped]) // spread
            held += np.bincount(distinct, minlength=len(labels))
        over.append(np.flatnonzero(held > limits[name]))
    return np.unique(np.concatenate(over))


def _rebuild_over_limit(table, graph, usable, labels, over, priority, limits, groups):
    """Union edges of over-limit components one by one, strongest first, refusing limit-breaking ones.

    Returns the new labels, the refused edges (in edge order) and why each was refused."""
    in_over = np.zeros(int(labels.max()) + 1, dtype=bool)
    in_over[over] = True
    rows = np.flatnonzero(usable & in_over[labels[graph.src]])
    candidates = table.select(["identifier_type", "identifier_value", "record_key"]).take(rows)
    candidates = candidates.append_column("_priority", pa.array(priority[rows])).append_column("_row", pa.array(rows))
    sort_keys = [(c, "ascending") for c in ("_priority", "identifier_type", "identifier_value", "record_key", "_row")]
    order = rows[pc.sort_indices(candidates, sort_keys=sort_keys).to_numpy()]

    type_names = graph.types.names.to_pylist()
    parent: dict[int, int] = {}
    held: dict[int, dict[str, frozenset[int]]] = {}  # per part: the limit groups it holds, by type

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    edge_types = [type_names[i] for i in graph.types.index[order].tolist()]
    sources, targets = graph.src[order].tolist(), graph.dst[order].tolist()
    for target, t in zip(targets, edge_types, strict=True):
        if t in limits:
            held[target] = {t: frozenset((int(groups[target]),))}

    empty: frozenset[int] = frozenset()
    refused, reasons = [], []
    for row, source, target in zip(order.tolist(), sources, targets, strict=True):
        a, b = find(source), find(target)
        if a == b:
            continue
        ha, hb = held.get(a, {}), held.get(b, {})
        merged = {k: ha.get(k, empty) | hb.get(k, empty) for k in ha.keys() | hb.keys()}
        broken = [k for k, m in limits.items() if len(merged.get(k, empty)) > m]
        if broken:
            k = broken[0]
            refused.append(row)
            reasons.append(f"stitching would give one customer {len(merged[k])} {k} values (max {limits[k]})")
            continue
        parent[b] = a
        held[a] = merged
        held.pop(b, None)

    # Relabel: nodes of rebuilt components get fresh labels from their union-find roots.
    labels = labels.copy()
    touched = np.unique(np.concatenate([graph.src[rows], graph.dst[rows]]))
    roots = np.array([find(n) for n in touched.tolist()])
    _, root_ids = np.unique(roots, return_inverse=True)
    labels[touched] = labels.max() + 1 + root_ids
    in_edge_order = np.argsort(refused, kind="stable")
    return labels, np.asarray(refused, dtype=np.int64)[in_edge_order], [reasons[i] for i in in_edge_order]


def _customer_keys(graph: _Graph, labels: np.ndarray) -> pa.Array:
    """Per edge, the smallest record key (by code point, as UTF-8 bytes sort) of its record's component."""
    names = graph.record_names
    by_name = pc.sort_indices(names).to_numpy()
    rank = np.empty(len(names), dtype=np.int64)
    rank[by_name] = np.arange(len(names))
    smallest = np.full(int(labels.max()) + 1 if len(labels) else 0, len(names), dtype=np.int64)
    np.minimum.at(smallest, labels[: len(names)], rank)
    return names.take(by_name[smallest[labels[graph.src]]])
