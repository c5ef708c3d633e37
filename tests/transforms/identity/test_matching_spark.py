"""Probabilistic matching on Spark (`score(..., spark=session)`, transforms/identity/matching/spark_backend.py):
the same records give the same pairs, levels and probabilities as on DuckDB, with the shipped model, with a
fit, and in an incremental run. The records are test_matching's: its seeded crowd and its cases."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tessera.home import TesseraHome
from tests.transforms.identity.test_matching import CASES, as_table, crowd, nicknames, record, shipped  # noqa: F401
from transforms.identity import matching
from transforms.identity.matching.spark_backend import spark_api, spark_scratch, spark_sql

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1200)]

#: Enough records for a fit to be estimated on them (`fitting.MIN_RECORDS`), few enough for Spark on 2 cores.
CROWD = 800
#: First names one person was recorded under (two edits apart), with their level on DuckDB: Splink's jar puts
#: each one level lower (0.888 for the first, under 0.8 for the others).
TYPED = {
    "alexandra": ("alexydra", "jaro-winkler >= 0.9"),
    "andi": ("aindwi", "jaro-winkler >= 0.8"),
    "barbie": ("arbei", "jaro-winkler >= 0.8"),
}
#: A person whose street line was typed two ways.
STREET = {"first_name": "ingrid", "last_name": "vasquez", "birth_date": date(1966, 6, 6), "postcode": "55102"}


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """Tessera's Spark session (local, with Splink's jar), one for the module."""
    from tessera.spark import spark_session

    session = spark_session(TesseraHome(tmp_path_factory.mktemp("spark-home")))
    yield session
    session.stop()


def typed() -> list[dict]:
    rows = [record("crm:contacts:s1", street="41 wheatley close", **STREET)]
    rows.append(record("pos:loyalty_members:s1", street="41 wheatly close", **STREET))
    for i, (name, (typo, _)) in enumerate(TYPED.items()):
        person = {"last_name": "oyelaran", "birth_date": date(1970 + i, 2, 3), "street": f"{i + 5} quarry lane"}
        rows.append(record(f"crm:contacts:j{i}", first_name=name, postcode="40210", **person))
        rows.append(record(f"pos:loyalty_members:j{i}", first_name=typo, postcode="40210", **person))
    return rows


@pytest.fixture(scope="module")
def records() -> pa.Table:
    cases = {r["record_key"]: r for a, b in CASES.values() for r in (a, b)}
    return as_table([*crowd(CROWD), *cases.values(), *typed()])


def assert_same_scores(on_duckdb: pa.Table, on_spark: pa.Table) -> None:
    """Pair for pair the same (`assert_same_pairs`), with the same metadata."""
    assert_same_pairs(on_duckdb, on_spark)
    meta_duck, meta_spark = on_duckdb.schema.metadata, on_spark.schema.metadata
    for key in (matching.PAIRS_COMPARED, matching.BLOCKING_PLAN, matching.FIT_KEY, matching.SCORED):
        assert meta_spark[key.encode()] == meta_duck[key.encode()], key
    steps = json.loads(meta_spark[matching.STEP_SECONDS.encode()])
    assert list(steps) == list(json.loads(meta_duck[matching.STEP_SECONDS.encode()]))


def assert_same_pairs(on_duckdb: pa.Table, on_spark: pa.Table) -> None:
    """The same pairs in the same order, with equal levels, and probabilities and weights equal to 1e-9."""
    assert on_spark.schema.remove_metadata() == on_duckdb.schema.remove_metadata()
    duck, sparked = on_duckdb.to_pylist(), on_spark.to_pylist()
    assert [(r["record_key_a"], r["record_key_b"]) for r in sparked] == [
        (r["record_key_a"], r["record_key_b"]) for r in duck
    ]
    assert [r["match_detail"] for r in sparked] == [r["match_detail"] for r in duck]
    assert [r["match_probability"] for r in sparked] == pytest.approx([r["match_probability"] for r in duck], abs=1e-9)
    assert [r["match_weight"] for r in sparked] == pytest.approx([r["match_weight"] for r in duck], rel=1e-9)


def levels(pairs: pa.Table, comparison: str) -> set[str]:
    return {json.loads(detail)[comparison]["level"] for detail in pairs.column("match_detail").to_pylist()}


def test_the_shipped_model_scores_the_same_pairs_on_spark(spark, records, shipped, nicknames):  # noqa: F811
    on_duckdb = matching.score(records, shipped, 0.0, nicknames=nicknames)
    on_spark = matching.score(records, shipped, 0.0, nicknames=nicknames, spark=spark)
    assert_same_scores(on_duckdb, on_spark)
    # Levels of every kind were compared, so the SQL of each ran on Spark, DuckDB's functions included.
    details = {(r["record_key_a"], r["record_key_b"]): json.loads(r["match_detail"]) for r in on_spark.to_pylist()}
    for i, (_, level) in enumerate(TYPED.values()):
        assert details[(f"crm:contacts:j{i}", f"pos:loyalty_members:j{i}")]["first_name"]["level"] == level
    street = details[("crm:contacts:s1", "pos:loyalty_members:s1")]["address"]["level"]
    assert street == "street nearly equal, same house number and place, same last name"
    assert {"nickname", "one typo"} <= levels(on_spark, "first_name")
    assert {"day and month swapped", "one digit typed wrong", "within a year"} <= levels(on_spark, "birth_date")
    # The household's two people are vetoed on Spark as on DuckDB.
    household = tuple(sorted(r["record_key"] for r in CASES["household"]))
    assert household not in {(r["record_key_a"], r["record_key_b"]) for r in on_spark.to_pylist()}


def test_a_fit_and_an_incremental_run_score_the_same_on_spark(spark, records, shipped, nicknames, tmp_path):  # noqa: F811
    fits = matching.FittedModels(tmp_path / "matcher")
    on_duckdb = matching.score(records, shipped, 0.0, nicknames=nicknames, fits=fits)
    on_spark = matching.score(records, shipped, 0.0, nicknames=nicknames, fits=fits, spark=spark)
    (fit,) = fits.history()  # made on the first run, frozen for the second: one fit, its term frequencies
    assert fit["method"] == "estimated"
    assert_same_scores(on_duckdb, on_spark)
    fit_key = on_spark.schema.metadata[matching.FIT_KEY.encode()].decode()
    assert fit_key.startswith("v1-")

    changed = sorted(r["record_key"] for a, b in CASES.values() for r in (a, b))
    con = duckdb.connect()
    con.execute("create table changed as select unnest($keys) as record_key", {"keys": changed})
    incremental = {
        "nicknames": nicknames,
        "fits": fits,
        "con": con,
        "only": "(select record_key from memory.main.changed)",
        "previous_fit": fit_key,
    }
    changed_on_duckdb = matching.score(records, shipped, 0.0, **incremental)
    changed_on_spark = matching.score(records, shipped, 0.0, **incremental, spark=spark)
    assert changed_on_spark.schema.metadata[matching.SCORED.encode()] == b"changed"
    assert_same_scores(changed_on_duckdb, changed_on_spark)
    # The changed records' pairs are the ones the full run found for them, with the same scores.
    keys = pa.array(changed)
    expected = on_spark.filter(
        pc.or_(pc.is_in(on_spark.column("record_key_a"), keys), pc.is_in(on_spark.column("record_key_b"), keys))
    )
    assert_same_pairs(expected, changed_on_spark)
    nickname = tuple(sorted(r["record_key"] for r in CASES["nickname"]))
    assert nickname in {(r["record_key_a"], r["record_key_b"]) for r in changed_on_spark.to_pylist()}

    # A day without changes scores nothing on either engine.
    con.execute("delete from changed")
    unchanged = matching.score(records, shipped, 0.0, **incremental, spark=spark)
    assert_same_scores(matching.score(records, shipped, 0.0, **incremental), unchanged)
    assert unchanged.num_rows == 0 and unchanged.schema.metadata[matching.PAIRS_COMPARED.encode()] == b"0"


def test_similarities_on_spark_are_duckdbs_not_the_jars(spark):
    """Splink's jar counts three out-of-order characters as 1.5 transpositions where DuckDB rounds down to 1, which
    moves pairs between the model's levels; on Spark the model's SQL calls DuckDB's own functions."""
    pairs = [("amanda", "amnda"), ("barbara", "babara"), ("johnson", "jason"), ("", ""), ("liz", None)]
    names = pa.table({"i": range(len(pairs)), "l": [p[0] for p in pairs], "r": [p[1] for p in pairs]})
    jw, dl = "jaro_winkler_similarity(l, r)", "damerau_levenshtein(l, r)"
    expected = duckdb.sql(f"select {jw}, {dl} from names order by i").fetchall()
    with spark_scratch(spark) as session:
        spark_api(session)  # registers the jar's functions, `jaro_winkler` among them
        session.createDataFrame(names).createOrReplaceTempView("names")
        rows = session.sql(
            f"select {spark_sql(jw)} as jw, {spark_sql(dl)} as dl, jaro_winkler(l, r) as jar from names order by i"
        ).collect()
    assert [(row.jw, row.dl) for row in rows] == expected
    assert rows[0].jar < 0.88 <= rows[0].jw  # amanda/amnda: another level of the model on the jar's function
