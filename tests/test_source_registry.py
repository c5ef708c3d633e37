"""Adding a source is one folder plus `tessera generate`: a toy source, declared in a folder of its own,
appears in the extract DAGs, the tag vocabulary, the transform DAG's Assets, the dbt sources and the docs,
and lands batches under the landing contract."""

from __future__ import annotations

import sys
import textwrap
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
import yaml

from connectors.base import Window
from connectors.connection import ConnectionInfo
from connectors.extraction import extract
from connectors.registry import Registry, registry
from tessera.generated_files import rendered_files
from tessera.resources import dbt_project_dir

pytestmark = pytest.mark.unit

TOY_INIT = '''
"""A toy source: things served from its connection's extra."""

from connectors.contract import Column, StreamContract
from connectors.registry import ConnectionSpec, Source

SOURCE = Source(
    name="toy",
    system="a list of things in the connection",
    description="Things, to prove that a source is one folder.",
    schedule="30 2 * * *",
    connection=ConnectionSpec(conn_type="generic", fields="extra.records"),
    factory="toy_sources.toy.things:streams",
    streams=(
        StreamContract(
            source="toy",
            stream="things",
            key="thing_id",
            description="One row per thing.",
            columns=(
                Column("thing_id", required=True, description="The thing's id."),
                Column("owner_email", pii=True, description="Who owns it."),
                Column("changed_at", "timestamp", required=True, description="When it changed."),
            ),
        ),
    ),
)
'''

TOY_STREAM = """
from connectors.base import CursorStream
from connectors.records import parse_timestamp, text
from toy_sources.toy import SOURCE


class Things(CursorStream):
    cursor_field = "changed_at"

    def __init__(self, contract, records):
        self.contract, self.records = contract, records

    def fetch(self, since, before):
        yield [r for r in self.records if parse_timestamp(r["changed"], "changed") < before]

    def parse(self, raw):
        return {
            "thing_id": text(raw.get("id")),
            "owner_email": text(raw.get("owner")),
            "changed_at": parse_timestamp(raw.get("changed"), "changed"),
        }


def streams(conn):
    return [Things(SOURCE.stream("things"), conn.extra["records"])]
"""


@pytest.fixture
def with_toy(tmp_path, monkeypatch) -> Registry:
    """The real registry plus a toy source discovered from a folder of its own."""
    package = tmp_path / "toy_sources"
    (package / "toy").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "toy" / "__init__.py").write_text(textwrap.dedent(TOY_INIT))
    (package / "toy" / "things.py").write_text(textwrap.dedent(TOY_STREAM))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield Registry([*registry().sources.values(), *Registry.discover("toy_sources").sources.values()])
    for name in [m for m in sys.modules if m.startswith("toy_sources")]:
        del sys.modules[name]


def test_a_toy_source_gets_its_extract_dag_with_a_task_per_stream_and_its_tag(with_toy):
    from airflow.timetables.interval import CronDataIntervalTimetable

    from tessera.orchestration import extract_dags, tag_vocabulary

    dags = extract_dags(with_toy)
    assert set(dags) == {s.dag_id for s in registry().sources.values()} | {"tessera_extract_toy"}
    toy = dags["tessera_extract_toy"]
    assert toy.task_ids == ["extract_things"]
    assert isinstance(toy.timetable, CronDataIntervalTimetable) and toy.timetable.summary == "30 2 * * *"
    assert [a.uri for a in toy.get_task("extract_things").outlets] == ["tessera://lake/raw/toy/things"]
    assert "source:toy" in toy.tags and "source:toy" in tag_vocabulary(with_toy)
    assert "source:toy" not in tag_vocabulary()
    assert "`toy.things`: One row per thing." in toy.doc_md


def test_a_toy_source_gets_dbt_sources_and_doc_tables(with_toy):
    root = dbt_project_dir().parent
    files = rendered_files(with_toy, root)
    sources_yml = root / "dbt_project" / "models" / "staging" / "toy" / "_toy__sources.yml"
    (source,) = yaml.safe_load(files[sources_yml])["sources"]
    assert source["name"] == "toy"
    assert "/lake/raw/toy/{name}/batch_id=*/*.parquet" in source["config"]["meta"]["external_location"]
    (table,) = source["tables"]
    assert [(c["name"], c["data_type"]) for c in table["columns"]] == [
        ("thing_id", "varchar"),
        ("owner_email", "varchar"),
        ("changed_at", "timestamp with time zone"),
        ("_batch_id", "varchar"),
        ("_extracted_at", "timestamp with time zone"),
        ("_record", "varchar"),
    ]
    assert {c["name"] for c in table["columns"] if c.get("config", {}).get("meta", {}).get("pii")} == {
        "owner_email",
        "_record",
    }
    contract_doc = files[root / "docs" / "landing-contract.md"]
    assert "### `toy.things`" in contract_doc and "| `owner_email` | string |  |" in contract_doc
    connectors_doc = files[root / "docs" / "connectors.md"]
    assert "| `toy` | `connectors/sources/toy/` | a list of things in the connection | `things` |" in connectors_doc
    assert "| `tessera_toy` | `generic` |" in connectors_doc
    # The real sources' files are what the registry without the toy renders: nothing else moved.
    assert {p: t for p, t in files.items() if "toy" not in p.name and p.suffix == ".yml"} == {
        p: t for p, t in rendered_files(registry(), root).items() if p.suffix == ".yml"
    }


def test_the_transform_dag_waits_for_the_toy_stream_too(with_toy, dbt_manifest):
    from tessera.orchestration import transform_dag

    dag = transform_dag(with_toy)
    uris = {asset.uri for asset in dag.timetable.asset_condition.objects}
    assert uris == {f"tessera://lake/raw/{c.lake_path}" for c in with_toy.streams}
    assert "tessera://lake/raw/toy/things" in uris


def test_a_toy_stream_lands_batches_under_its_contract(with_toy, home):
    records = [
        {"id": "t1", "owner": "Ann@Example.com", "changed": "2026-01-01T10:00:00Z"},
        {"id": None, "owner": "x", "changed": "2026-01-01T11:00:00Z"},
    ]
    (stream,) = with_toy.source("toy").build_streams(ConnectionInfo("tessera_toy", extra={"records": records}))
    result = extract(stream, Window(None, datetime(2026, 1, 2, tzinfo=UTC)), lake=home.lake, state_dir=home.state)

    assert (result.rows, result.quarantined) == (1, 1)
    landed = pq.read_table(next((home.lake / "raw" / "toy" / "things").glob("batch_id=*/*.parquet")))
    assert landed.schema == with_toy.contract("toy", "things").schema
    assert landed.column("owner_email").to_pylist() == ["Ann@Example.com"]


def test_unknown_names_and_misdeclared_folders_say_what_is_known(tmp_path, monkeypatch):
    with pytest.raises(KeyError, match="known sources: crm, email, pos, web"):
        registry().source("erp")
    with pytest.raises(KeyError, match="it has subscribers, events"):
        registry().contract("email", "clicks")
    package = tmp_path / "bad_sources"
    (package / "erp").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "erp" / "__init__.py").write_text('"""No SOURCE here."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match=r"bad_sources.erp must declare SOURCE = Source\(...\)"):
        Registry.discover("bad_sources")
