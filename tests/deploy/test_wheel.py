"""The wheel as a worker installs it: built like `make wheel`, installed with the lock's pins in a fresh
virtualenv outside the repository. It carries the DAGs, the dbt project and its manifest, builds the marts
from any working directory, and holds no demo tooling."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import UTC, datetime

import duckdb
import pytest

from tessera.home import TesseraHome
from tests.deploy.installed import Installed
from tests.lake_writer import land, land_empty_streams

pytestmark = [pytest.mark.slow]

DEMO_ONLY = ("fastapi", "uvicorn", "faker", "tessera_simulator")

# Run in the installed venv: which modules import, and which installed distributions require each one.
PROBE = """
import importlib.util, json, re
from importlib.metadata import distributions
def requirers(name):
    found = set()
    for dist in distributions():
        for req in dist.requires or []:
            if ";" in req and "extra ==" in req.split(";", 1)[1]:
                continue
            if re.split(r"[ <>=!~\\[;(]", req, maxsplit=1)[0].lower().replace("_", "-") == name:
                found.add(dist.metadata["Name"].lower())
    return sorted(found)
print(json.dumps({m: {"importable": importlib.util.find_spec(m) is not None, "required_by": requirers(m.replace("_", "-"))}
                  for m in %r}))
"""


def _project(requirement: str) -> str:
    return re.split(r"[ <>=!~\[;(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_runtime_wheel_holds_no_demo_tooling(installed: Installed, tmp_path):
    with zipfile.ZipFile(installed.wheel) as whl:
        names = whl.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [
            line.split(":", 1)[1].strip()
            for line in whl.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line
        ]
    assert not [n for n in names if n.startswith("tessera_simulator/")]
    assert {"tessera/bundled/dags/tessera_extract.py", "tessera/bundled/dags/tessera_transform.py"} <= set(names)
    assert "tessera/bundled/dbt_project/target/manifest.json" in names
    assert {_project(r) for r in requires}.isdisjoint({"fastapi", "uvicorn", "faker", "tessera-simulator"}), requires

    done = installed.run("python", "-c", PROBE % (DEMO_ONLY,), env=installed.environment(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert not found["faker"]["importable"] and not found["tessera_simulator"]["importable"]
    assert found["faker"]["required_by"] == [] and found["tessera_simulator"]["required_by"] == []
    # FastAPI and uvicorn are Airflow 3's own (its api-server), not the demo's: nothing of ours asks for them.
    for server_lib in ("fastapi", "uvicorn"):
        assert "tessera" not in found[server_lib]["required_by"]
        assert "apache-airflow-core" in found[server_lib]["required_by"], found[server_lib]


def test_paths_point_inside_the_installed_package(installed: Installed, tmp_path):
    home = tmp_path / "home"
    done = installed.run("tessera", "paths", env=installed.environment(TESSERA_HOME=str(home)), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    printed = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    bundled = installed.site_packages / "tessera" / "bundled"
    assert printed == {
        "TESSERA_HOME": str(home),
        "dags folder (AIRFLOW__CORE__DAGS_FOLDER)": str(bundled / "dags"),
        "dbt project": str(bundled / "dbt_project"),
        "dbt manifest": str(bundled / "dbt_project" / "target" / "manifest.json"),
        "check suites (GX project)": str(bundled / "expectations"),
        "check results (Data Docs)": str(home / "checks" / "data_docs" / "index.html"),
    }
    assert (bundled / "dbt_project" / "target" / "manifest.json").is_file()


def _contact(contact_id: str, email: str, phone: str | None, first: str, last: str) -> dict:
    ts = datetime(2026, 1, 1, 12, tzinfo=UTC)
    return {"contact_id": contact_id, "email": email, "phone": phone, "first_name": first, "last_name": last,
            "country": "GB", "is_deleted": False, "updated_at": ts, "created_at": ts}  # fmt: skip


def test_transform_builds_the_golden_customers_outside_the_repo(installed: Installed, tmp_path):
    home = TesseraHome(tmp_path / "home")
    ts = datetime(2026, 1, 1, 12, tzinfo=UTC)
    batch = "20260101T000000Z"
    land(home.lake, "crm", "contacts", batch, [
        _contact("A", "ann@example.com", None, "Ann", "Lee"),
        _contact("B", "bob@example.org", "+447700900123", "Bob", "Ray"),
    ])  # fmt: skip
    land(home.lake, "email", "subscribers", batch,
         [{"subscriber_id": "S", "email": "ANN@Example.com ", "status": "subscribed", "updated_at": ts}])  # fmt: skip
    land(home.lake, "pos", "loyalty_members", batch,
         [{"loyalty_id": "L", "email": "carol@example.net", "first_name": "Carol", "last_name": "King",
           "country": "GB", "updated_at": ts, "enrolled_at": ts}])  # fmt: skip
    land_empty_streams(home.lake)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()

    done = installed.run(
        "tessera", "transform", env=installed.environment(TESSERA_HOME=str(home.root)), cwd=elsewhere, timeout=300
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 golden customers" in done.stdout
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        golden = con.execute(
            "select email, phone, first_name, last_name, sources, record_count from marts.golden_customers order by email"
        ).fetchall()
        xref = con.execute(
            "select x.source || ':' || x.record_id, g.email from marts.customer_xref x "
            "join marts.golden_customers g using (customer_id) order by 1"
        ).fetchall()
    assert golden == [
        ("ann@example.com", None, "Ann", "Lee", "crm,email", 2),
        ("bob@example.org", "+447700900123", "Bob", "Ray", "crm", 1),
        ("carol@example.net", None, "Carol", "King", "pos", 1),
    ]
    assert xref == [
        ("crm:A", "ann@example.com"),
        ("crm:B", "bob@example.org"),
        ("email:S", "ann@example.com"),
        ("pos:L", "carol@example.net"),
    ]
    assert not (elsewhere / "data").exists()  # everything went to TESSERA_HOME, nothing to the working directory


def test_demo_asks_for_the_demo_extra(installed: Installed, tmp_path):
    done = installed.run(
        "tessera", "demo", env=installed.environment(TESSERA_HOME=str(tmp_path / "home")), cwd=tmp_path
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "pip install 'tessera[demo]'" in " ".join(done.stdout.split())
