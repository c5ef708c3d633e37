"""The transform DAG benchmark end to end at a tiny scale: the DAG and `tessera transform` on copies of one
checked lake, a run with nothing new, a JSON report."""

from __future__ import annotations

import json

import duckdb
import pytest

from benchmarks.transform_dag import BEFORE_THE_BUILD, DAG, NOTHING_NEW, TRANSFORM, readme_tables
from tessera.resources import manifest_path

#: The DAG's tasks besides one per model and seed: the batch checks, `anything_new`, the producer (`dbt
#: build`) and the task after it, the mart checks and the publication.
AROUND_THE_NODES = 6


@pytest.mark.slow
@pytest.mark.timeout(1500)  # several builds of the whole project, predictions included
def test_benchmark_times_the_dag_against_tessera_transform_and_a_run_with_nothing_new(run_benchmark) -> None:
    run = run_benchmark("transform_dag", "--customers", "300", "--repeat", "1")
    [result] = run.report["results"]
    assert result["customers"] == 300 and result["world"]["setup"] == "built" and result["lake"]["setup"] == "landed"

    # The runs read a checked copy of the shared lake; the shared lake stays as it was landed.
    root = run.workdir / "transform-dag-c300-s42"
    assert not list((run.workdir / "unify-c300-s42" / "lake").rglob("_CHECKED.json"))
    checked = list((root / "template" / "lake").rglob("_CHECKED.json"))
    assert len(checked) == result["template"]["checked"] > 0 and result["template"]["held"] == 0

    # Each run published from a home of its own, and both built the same golden customers.
    [dag], [transform] = result["runs"][DAG], result["runs"][TRANSFORM]
    for home in ("transform-DAG-1", "tessera-transform-1"):
        with duckdb.connect(str(root / home / "published" / "warehouse.duckdb"), read_only=True) as con:
            golden = con.execute("select count(*) from marts.golden_customers").fetchone()[0]
        assert golden == result["golden_customers"] > 0
    assert result["same_golden_customers"]

    # The DAG ran a task per model and seed around one build, and its parts fit in its wall time.
    nodes = json.loads(manifest_path().read_text())["nodes"].values()
    assert dag["node_tasks"] == sum(1 for n in nodes if n["resource_type"] in ("model", "seed"))
    assert dag["tasks"] == dag["node_tasks"] + AROUND_THE_NODES and dag["failed"] == []
    assert dag["producer_seconds"] + dag["node_seconds"] < dag["seconds"]
    assert transform["dbt_build_seconds"] < transform["seconds"]
    assert result["ratio"]["dag_to_transform"] == pytest.approx(dag["seconds"] / transform["seconds"])
    assert result["ratio"]["dag_to_dbt_build"] == pytest.approx(dag["seconds"] / transform["dbt_build_seconds"])

    # The second DAG run found nothing new: it ran the checks and the comparison, and skipped the rest.
    quiet = dag[NOTHING_NEW]
    assert set(quiet["ran"]) == BEFORE_THE_BUILD and quiet["not_skipped"] == []
    assert result[NOTHING_NEW]["seconds"] == quiet["seconds"] < dag["producer_seconds"]
    assert run.printed(readme_tables, "runs-300")
