"""The transform DAG, run with `dag.test()`: Cosmos renders the dbt project node by node and builds the marts."""

from __future__ import annotations

import duckdb
import pytest

from tests.sources import running_sources, simulated_days

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_transform_dag_builds_the_marts_node_by_node(home, airflow_db, dagbag_for_transform):
    from tessera.airflow_local import run_dag

    with running_sources(home.simulator, customers=300) as sources:
        for _ in simulated_days(sources, home, days=1):
            pass
    run_dag("tessera_transform", sources.sim.clock)

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        customers = con.execute("select count(*) from marts.golden_customers").fetchone()[0]
        xref = con.execute("select count(distinct customer_id) from marts.customer_xref").fetchone()[0]
    assert customers == xref > 200


@pytest.fixture
def dagbag_for_transform(dbt_manifest):
    """The DAG renders a task per dbt node, with the stitching step in its place in the graph."""
    from airflow.dag_processing.dagbag import DagBag

    from tessera.resources import dags_folder

    dag = DagBag(dag_folder=str(dags_folder() / "tessera_transform.py"), safe_mode=False).dags["tessera_transform"]
    stitching = dag.get_task("dbt.int_identity_resolution_model_build")
    assert [t.task_id for t in stitching.upstream_list if t.task_id.startswith("dbt.int_")] == [
        "dbt.int_identity_edge_screening_model_build"
    ]
    assert "dbt.customer_xref_model_build" in stitching.get_flat_relative_ids(upstream=False)
    assert "publish_marts" in dag.task_ids
    return dag
