"""The transform DAG for a Spark warehouse (`TESSERA_DBT_TARGET=spark`): rendered from the project parsed for
Spark, one task at a time, its producer making the Spark session and serving the build; refused when rendered
from a manifest parsed for another engine, whose node tasks the Spark build would never answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.resources import dbt_project_dir

pytestmark = pytest.mark.integration

PRODUCER = "dbt.dbt_producer_watcher"


@pytest.fixture(scope="module")
def spark_manifest(tmp_path_factory) -> Path:
    """The project parsed for the spark target, as docs/deploy.md section 10 has an operator do."""
    folder = tmp_path_factory.mktemp("spark-manifest")
    project = str(dbt_project_dir())
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run(
        [str(dbt), "parse", "--project-dir", project, "--profiles-dir", project, "--target", "spark",
         "--target-path", str(folder), "--log-path", str(folder / "logs")],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return folder / "manifest.json"


def test_on_spark_the_dag_mirrors_the_spark_build_one_task_at_a_time(spark_manifest, monkeypatch):
    from tessera.orchestration import prepare_producer, serve_build, transform_dag

    monkeypatch.setenv("TESSERA_DBT_TARGET", "spark")
    monkeypatch.setenv("TESSERA_DBT_MANIFEST", str(spark_manifest))
    dag = transform_dag()
    producer = dag.get_task(PRODUCER)
    assert producer.profile_config.target_name == "spark"
    assert producer._pre_execute_hook is prepare_producer and producer._post_execute_hook is serve_build
    # Derby, Spark's metastore, admits one process: nothing runs beside the producer.
    assert dag.max_active_tasks == 1
    models = {
        uid
        for uid, node in json.loads(spark_manifest.read_text())["nodes"].items()
        if node["resource_type"] in ("model", "seed")
    }
    rendered = {getattr(t, "model_unique_id", None) for t in dag.tasks} - {None}
    assert rendered == models and "model.tessera.int_identity_edge_screening" not in rendered
    assert (
        "dbt.int_identity_edge_screening_run" not in dag.get_task("dbt.int_identity_resolution_run").upstream_task_ids
    )


def test_a_manifest_parsed_for_another_engine_is_refused(dbt_manifest, monkeypatch):
    from tessera.orchestration import transform_dag

    monkeypatch.setenv("TESSERA_DBT_TARGET", "spark")
    monkeypatch.setenv("TESSERA_DBT_MANIFEST", str(dbt_manifest))  # the wheel's, parsed for DuckDB
    with pytest.raises(ValueError, match=r"parsed for duckdb, but TESSERA_DBT_TARGET=spark .*TESSERA_DBT_MANIFEST"):
        transform_dag()
