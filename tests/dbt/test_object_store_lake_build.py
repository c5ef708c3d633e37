"""The whole project built on DuckDB from a lake on object storage (`TESSERA_LAKE=s3://…`, a real S3 server)
equals the build from the same world landed in a local folder: the connectors land in the bucket, the checks
gate there, and the source views read exactly the files each batch's `_SUCCESS` lists, through the lake's
fsspec filesystem (no DuckDB extension)."""

from __future__ import annotations

import duckdb
import pytest

from tessera.dbt_runner import run_transform
from tessera.home import TesseraHome
from tests.dbt.simulated_lake import land_simulated_lake

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1500)]

MARTS = {
    "golden": "select customer_id, email, phone, first_name, last_name from marts.golden_customers",
    "xref": "select source, stream, record_id, customer_id from marts.customer_xref",
    "staging": "select contact_id, email, phone_e164, _batch_id from staging.stg_crm__contacts",
}


def _rows(home: TesseraHome) -> dict[str, list[tuple]]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return {name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in MARTS.items()}


def test_a_lake_in_a_bucket_builds_the_same_customers_as_a_local_lake(tmp_path, s3_lake):
    local = TesseraHome(tmp_path / "local", lake_location=None)
    remote = TesseraHome(tmp_path / "remote", lake_location=str(s3_lake))
    land_simulated_lake(local, tmp_path / "sim-local", customers=150, days=1)
    land_simulated_lake(remote, tmp_path / "sim-remote", customers=150, days=1)

    run_transform(local)
    run_transform(remote)

    assert not (remote.root / "lake").exists()  # everything landed in the bucket
    built_locally, built_remotely = _rows(local), _rows(remote)
    assert len(built_locally["golden"]) > 100 and len(built_locally["xref"]) > len(built_locally["golden"])
    assert built_remotely == built_locally
