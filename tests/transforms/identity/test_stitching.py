"""Stitching edge cases: chains, shared placeholders, shared devices, limit breaches, match edges."""

from __future__ import annotations

import time

import pandas as pd
import pyarrow as pa
import pytest

from transforms.identity.stitching import IdentifierRule, rules_from_rows, stitch

pytestmark = pytest.mark.unit

RULES = {
    "crm_contact_id": IdentifierRule("crm_contact_id", 1, max_per_customer=1),
    "loyalty_id": IdentifierRule("loyalty_id", 1, max_per_customer=2),
    "email": IdentifierRule("email", 3, max_per_customer=3, max_entities_per_value=3),
    "phone": IdentifierRule("phone", 4, max_per_customer=3, max_entities_per_value=3),
    "anonymous_id": IdentifierRule("anonymous_id", 6, max_entities_per_value=10),
    "record": IdentifierRule("record", 9),
}


def edges(*rows):
    return pd.DataFrame(rows, columns=["record_key", "identifier_type", "identifier_value"])


def customers(result) -> dict[str, str]:
    return result.drop_duplicates("record_key").set_index("record_key")["customer_key"].to_dict()


def groups(result) -> set[frozenset]:
    out: dict[str, set] = {}
    for record, key in customers(result).items():
        out.setdefault(key, set()).add(record)
    return {frozenset(g) for g in out.values()}


def test_a_chain_a_b_c_becomes_one_customer():
    result = stitch(
        edges(
            ("crm:A", "crm_contact_id", "A"),
            ("crm:A", "email", "x@example.com"),
            ("pos:B", "email", "x@example.com"),
            ("pos:B", "phone", "+441"),
            ("esp:C", "phone", "+441"),
        ),
        RULES,
    )
    assert groups(result) == {frozenset({"crm:A", "pos:B", "esp:C"})}
    assert set(customers(result).values()) == {"crm:A"}
    assert set(result["decision"]) == {"stitched"}


def test_a_value_on_more_than_k_entities_is_shared_and_does_not_stitch():
    rows = [(f"tx:{i}", "email", "receipts@store.example") for i in range(5)]
    result = stitch(edges(*rows, ("tx:0", "phone", "+1")), RULES)
    assert len(groups(result)) == 5
    shared = result[result["identifier_value"] == "receipts@store.example"]
    assert set(shared["decision"]) == {"shared"}
    assert (
        shared["reason"].iloc[0]
        == "value is carried by 5 distinct entities in one stream (more than 3): treated as shared"
    )


def test_entities_not_records_are_counted_for_sharing():
    """One shopper's 5 transactions paid with one card are one entity, so their email still stitches."""
    df = edges(*[(f"tx:{i}", "email", "me@example.com") for i in range(5)])
    df["entity_key"] = "card:1"
    result = stitch(df, RULES)
    assert len(groups(result)) == 1


def test_entities_are_counted_within_each_stream():
    """One email in the CRM, the ESP and the loyalty desk is one person, not a value shared by three."""
    df = edges(
        *[(f"{s}:1", "email", "me@example.com") for s in ("crm", "esp", "pos")], ("crm:2", "email", "me@example.com")
    )
    df["source"] = ["crm", "esp", "pos", "crm"]
    df["stream"] = ["contacts", "subscribers", "loyalty_members", "contacts"]
    tight = {**RULES, "email": IdentifierRule("email", 3, max_per_customer=3, max_entities_per_value=1)}
    assert len(groups(stitch(df.iloc[:3], tight))) == 1
    assert set(stitch(df, tight)["decision"]) == {"shared"}


def test_a_shared_device_with_two_logged_in_users_does_not_merge_them():
    result = stitch(
        edges(
            ("crm:A", "crm_contact_id", "A"),
            ("crm:B", "crm_contact_id", "B"),
            ("web:dev1", "anonymous_id", "dev1"),
            ("web:dev1", "crm_contact_id", "A"),
            ("web:dev1", "crm_contact_id", "B"),
        ),
        RULES,
    )
    assert groups(result) == {frozenset({"crm:A", "web:dev1"}), frozenset({"crm:B"})}
    dropped = result[result["decision"] == "over_limit"]
    assert dropped[["record_key", "identifier_value"]].values.tolist() == [["web:dev1", "B"]]
    assert dropped["reason"].iloc[0] == "stitching would give one customer 2 crm_contact_id values (max 1)"


def test_a_limit_breach_drops_the_lower_priority_edge():
    """Two CRM contacts share a phone: the phone edge (priority 4) goes, the emails (priority 3) stay."""
    result = stitch(
        edges(
            ("crm:A", "crm_contact_id", "A"),
            ("crm:A", "phone", "+1"),
            ("crm:B", "crm_contact_id", "B"),
            ("crm:B", "phone", "+1"),
            ("pos:L", "email", "a@example.com"),
            ("crm:A", "email", "a@example.com"),
        ),
        RULES,
    )
    assert groups(result) == {frozenset({"crm:A", "pos:L"}), frozenset({"crm:B"})}
    assert result.loc[result["decision"] == "over_limit", "identifier_type"].tolist() == ["phone"]


def test_blocklisted_values_never_stitch():
    blocklist = pd.DataFrame({"identifier_type": ["phone"], "identifier_value": ["+10000000000"]})
    result = stitch(edges(("crm:A", "phone", "+10000000000"), ("crm:B", "phone", "+10000000000")), RULES, blocklist)
    assert len(groups(result)) == 2
    assert set(result["decision"]) == {"blocked"}


def test_record_to_record_match_edges_join_components_under_the_same_limits():
    result = stitch(
        edges(
            ("crm:A", "crm_contact_id", "A"),
            ("pos:L", "loyalty_id", "L"),
            ("pos:L", "record", "crm:A"),
            ("crm:B", "crm_contact_id", "B"),
            ("crm:B", "record", "crm:A"),
        ),
        RULES,
    )
    assert groups(result) == {frozenset({"crm:A", "pos:L"}), frozenset({"crm:B"})}


def test_unknown_identifier_types_are_refused_by_name():
    with pytest.raises(ValueError, match=r"identifier types \['fax'\] have no rule"):
        stitch(edges(("crm:A", "fax", "1")), RULES)


def test_rules_from_seed_rows_validate_with_the_row_named():
    rules = rules_from_rows(
        [{"identifier_type": "email", "priority": "3", "max_per_customer": "3", "max_entities_per_value": ""}]
    )
    assert rules.by_type["email"] == IdentifierRule("email", 3, 3, None)
    with pytest.raises(ValueError, match="identity_rules row 1"):
        rules_from_rows([{"identifier_type": "email", "priority": "high"}])


def test_a_stream_override_trusts_receipt_emails_less():
    rows = [
        {"identifier_type": "email", "priority": 2, "max_per_customer": 4, "max_entities_per_value": 2},
        {"identifier_type": "email", "stream": "transactions", "priority": 3, "max_entities_per_value": 1},
    ]
    rules = rules_from_rows(rows)
    df = edges(
        ("pos:t1", "email", "shop@x.example"),
        ("pos:t2", "email", "shop@x.example"),
        ("crm:a", "email", "a@x"),
        ("crm:b", "email", "a@x"),
    )
    df["stream"] = ["transactions", "transactions", "contacts", "contacts"]
    result = stitch(df, rules)
    assert result.groupby("identifier_value")["decision"].first().to_dict() == {
        "a@x": "stitched",
        "shop@x.example": "shared",
    }
    assert (
        result.loc[0, "reason"]
        == "value is carried by 2 distinct entities in transactions (more than 1): treated as shared"
    )
    with pytest.raises(ValueError, match="need a default row"):
        rules_from_rows([{"identifier_type": "phone", "stream": "transactions", "priority": 1}])


def test_strong_matches_let_copies_of_one_person_hold_their_values_as_one():
    """Three CRM copies of one person, joined by match edges: strong ones deduplicate, weaker ones are refused."""

    def copies(probability: float) -> pd.DataFrame:
        df = edges(
            ("crm:A1", "crm_contact_id", "A1"),
            ("crm:A2", "crm_contact_id", "A2"),
            ("crm:A3", "crm_contact_id", "A3"),
            ("crm:A1", "record", "crm:A2"),
            ("crm:A2", "record", "crm:A3"),
        )
        df["match_probability"] = [None, None, None, probability, probability]
        return df

    strong = stitch(copies(0.995), RULES)
    assert groups(strong) == {frozenset({"crm:A1", "crm:A2", "crm:A3"})}
    assert set(strong["decision"]) == {"stitched"}
    weak = stitch(copies(0.97), RULES)
    assert groups(weak) == {frozenset({"crm:A1"}), frozenset({"crm:A2"}), frozenset({"crm:A3"})}
    assert weak.loc[weak["decision"] == "over_limit", "identifier_type"].tolist() == ["record", "record"]


def test_arrow_edges_come_back_as_arrow_with_the_decisions_of_a_frame():
    frame = edges(
        ("crm:A", "crm_contact_id", "A"),
        ("crm:A", "phone", "+1"),
        ("crm:B", "crm_contact_id", "B"),
        ("crm:B", "phone", "+1"),
        ("pos:L", "email", "a@example.com"),
        ("crm:A", "email", "a@example.com"),
        *[(f"tx:{i}", "email", "receipts@store.example") for i in range(4)],
        ("crm:B", "phone", "+10000000000"),
    )
    frame["observed_at"] = pd.Timestamp("2026-01-01", tz="UTC")
    blocklist = pd.DataFrame({"identifier_type": ["phone"], "identifier_value": ["+10000000000"]})
    expected = stitch(frame, RULES, blocklist)

    table = pa.Table.from_pandas(frame, preserve_index=False)
    result = stitch(table, RULES, blocklist)
    assert isinstance(result, pa.Table)
    assert result.column_names == list(expected.columns)
    assert [result.schema.field(c).type for c in table.column_names] == table.schema.types
    for column in ("decision", "reason", "customer_key", "entity_key"):
        assert (
            result[column].to_pylist() == expected[column].astype(object).where(expected[column].notna(), None).tolist()
        )
    assert set(expected["decision"]) == {"stitched", "over_limit", "shared", "blocked"}


def test_screened_arrow_edges_keep_their_column_types_when_a_column_is_all_null():
    screened = pa.table(
        {
            "record_key": ["crm:A", "crm:B", "crm:B"],
            "identifier_type": ["email", "email", "crm_contact_id"],
            "identifier_value": ["a@x", "a@x", "B"],
            "entity_key": pa.array([None, None, None], pa.string()),
            "match_probability": pa.array([None, None, None], pa.float64()),
            "decision": ["stitched", "stitched", "stitched"],
            "reason": pa.array([None, None, None], pa.string()),
        }
    )
    result = stitch(screened, RULES)
    assert result.schema.field("match_probability").type == pa.float64()
    assert result.schema.field("reason").type == pa.string()
    assert result["entity_key"].to_pylist() == ["crm:A", "crm:B", "crm:B"]
    assert result["customer_key"].to_pylist() == ["crm:A", "crm:A", "crm:A"]


def test_edges_without_a_record_key_type_or_value_are_refused_by_name():
    df = edges(("crm:A", "email", "a@x"), ("crm:B", "email", None))
    with pytest.raises(ValueError, match="1 rows without a identifier_value"):
        stitch(df, RULES)


def receipts(count: int, store_email: bool) -> pd.DataFrame:
    """`count` receipts, each paid by its own card; all with the store's email, or each with its own."""
    rows = []
    for i in range(count):
        rows.append((f"pos:transactions:{i}", "payment_token", f"tok-{i}"))
        rows.append((f"pos:transactions:{i}", "email", "receipts@store.example" if store_email else f"{i}@x.example"))
    df = edges(*rows)
    df["source"], df["stream"] = "pos", "transactions"
    df["entity_key"] = [f"pos:payer:tok-{i // 2}" for i in range(len(df))]
    return df


def fastest(run, repeat: int = 3) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


def test_a_store_email_on_thousands_of_receipts_costs_what_its_edges_cost():
    """One value on 20,000 receipts is one group of 20,000 edges, decided as fast as 20,000 values of one edge."""
    rules = {**RULES, "payment_token": IdentifierRule("payment_token", 2, max_per_customer=5)}
    skewed, spread = receipts(20_000, store_email=True), receipts(20_000, store_email=False)
    result = stitch(skewed, rules)
    store = result[result["identifier_value"] == "receipts@store.example"]
    assert len(store) == 20_000 and set(store["decision"]) == {"shared"}
    assert set(store["reason"]) == {
        "value is carried by 20000 distinct entities in transactions (more than 3): treated as shared"
    }
    assert result["customer_key"].nunique() == 20_000
    assert stitch(spread, rules)["customer_key"].nunique() == 20_000

    skewed_seconds = fastest(lambda: stitch(skewed, rules))
    spread_seconds = fastest(lambda: stitch(spread, rules))
    assert skewed_seconds < 2 * spread_seconds + 0.05, (skewed_seconds, spread_seconds)


def test_one_value_string_under_two_types_is_two_identifiers():
    """Contact id 42 and loyalty id 42 are different identifiers: they join nothing."""
    result = stitch(
        edges(
            ("crm:A", "crm_contact_id", "42"),
            ("pos:L", "loyalty_id", "42"),
            ("crm:B", "crm_contact_id", "42"),
        ),
        RULES,
    )
    assert groups(result) == {frozenset({"crm:A", "crm:B"}), frozenset({"pos:L"})}


def test_numbered_edges_must_be_integers():
    edges = pa.table({"record_key": ["a"], "identifier_type": ["email"], "identifier_value": ["x"]})
    with pytest.raises(ValueError, match="numbered edges need integers"):
        stitch(edges, {"email": IdentifierRule("email", 1)}, numbered=True)
