"""Analysts see PII only masked; on PostgreSQL the database itself refuses them the unmasked tables.

One small simulated world (100 people, an initial load) is built on DuckDB and on a throwaway PostgreSQL
database. On DuckDB the tests read the manifest's PII tags and the built `analyst` views: every column of
every view is untagged upstream or masked as tagged, e-mails are their SHA-256, and tagging a column in YAML
masks it in the next compile. On PostgreSQL the tests log in as real roles: a member of the analyst role is
refused every full schema and reads the masked views; a member of the activation role reads the marts; a
role in neither reads nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import psycopg2
import pytest
import sqlalchemy as sa
import yaml

from tessera.analyst_file import analyst_file_path
from tessera.dbt_runner import dbt_artifacts_dir, run_dbt, run_transform
from tessera.home import TesseraHome
from tessera.publication import publish_warehouse
from tessera.resources import dbt_project_dir
from tests.dbt.postgres_target import connect, postgres_target
from tests.dbt.simulated_lake import land_simulated_lake
from tests.sources import PG_ADMIN_URL, throwaway_postgres_database

pytestmark = pytest.mark.integration

ANALYST_ROLE = "tessera_analyst"
ACTIVATION_ROLE = "tessera_activation"
FULL_SCHEMAS = ["staging", "intermediate", "marts", "segments"]
#: What the issue names as the minimum analysts may not see in the clear.
NEVER_SHOWN = {"email", "phone", "street", "postcode", "birth_date"}
PRODUCTION_BUILD = ["build", "--exclude-resource-type", "unit_test"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> TesseraHome:
    """A landed lake, built on DuckDB."""
    root = tmp_path_factory.mktemp("access")
    home = TesseraHome(root / "home")
    land_simulated_lake(home, root / "sim", customers=100, days=0, seed=11)
    run_dbt(PRODUCTION_BUILD, home)
    return home


@pytest.fixture(scope="module")
def manifest(world) -> dict:
    return json.loads((dbt_artifacts_dir(world) / "target" / "manifest.json").read_text())


def _models(manifest: dict) -> dict[str, dict]:
    return {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}


def _analyst_views(manifest: dict) -> list[dict]:
    return sorted(
        (node for node in _models(manifest).values() if node["config"].get("schema") == "analyst"),
        key=lambda node: node["name"],
    )


def _upstream(manifest: dict, view: dict) -> dict:
    (upstream,) = [manifest["nodes"][uid] for uid in view["depends_on"]["nodes"]]
    return upstream


def _column_meta(column: dict) -> dict:
    return {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}


def _policies(node: dict) -> dict[str, str]:
    """column -> masking policy, for the PII columns of a model's YAML."""
    return {
        name: meta.get("masking", "drop")
        for name, column in node["columns"].items()
        if (meta := _column_meta(column)).get("pii")
    }


def _columns(con, schema: str, table: str) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?"
            " order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def test_every_pii_column_of_every_model_has_a_masking_policy(manifest):
    tagged = {
        f"{node['name']}.{name}": policy
        for node in _models(manifest).values()
        for name, column in node["columns"].items()
        if _column_meta(column).get("pii")
        for policy in [_column_meta(column).get("masking")]
    }
    assert {"golden_customers.email", "golden_customers.phone", "stg_crm__contacts.birth_date"} <= set(tagged)
    assert "int_identity_resolution.identifier_value" in tagged
    assert {name: policy for name, policy in tagged.items() if policy not in ("hash", "drop")} == {}


def test_staging_tags_every_column_the_landing_contract_marks_pii(manifest):
    """The staging model of a stream keeps a PII column under the contract's name: it stays tagged."""
    from connectors.registry import registry

    models = _models(manifest)
    checked = 0
    for stream in registry().streams:
        node = models.get(f"stg_{stream.source}__{stream.stream}")
        if node is None:
            continue
        for column in stream.columns:
            if column.pii and column.name in node["columns"]:
                assert _column_meta(node["columns"][column.name]).get("pii"), f"{node['name']}.{column.name}"
                checked += 1
    assert checked >= 15


def test_every_column_of_every_analyst_view_is_untagged_upstream_or_masked(world, manifest):
    views = _analyst_views(manifest)
    assert {view["alias"] for view in views} >= {
        "golden_customers",
        "customer_xref",
        "golden_customer_lineage",
        "customer_consent_history",
        "lapsed_vips",
    }
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        for view in views:
            upstream = _upstream(manifest, view)
            policies = _policies(upstream)
            shown = _columns(con, "analyst", view["alias"])
            built = _columns(con, upstream["schema"], upstream["alias"])
            expected = [
                f"{column}_sha256" if policies.get(column) == "hash" else column
                for column in built
                if policies.get(column) != "drop"
            ]
            assert shown == expected, view["name"]
            assert not set(shown) & NEVER_SHOWN, view["name"]


def test_analysts_get_the_sha256_of_each_email_and_no_phone_address_birth_date_or_name(world):
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        shown = _columns(con, "analyst", "golden_customers")
        pairs = con.execute(
            "select golden.email, masked.email_sha256 from marts.golden_customers as golden"
            " inner join analyst.golden_customers as masked using (customer_id) order by golden.customer_id"
        ).fetchall()
        analyst_text = " ".join(
            str(value) for row in con.execute("select * from analyst.golden_customers").fetchall() for value in row
        )
    assert {"phone", "street", "postcode", "birth_date", "first_name", "last_name", "email"}.isdisjoint(shown)
    emails = [email for email, _ in pairs if email]
    assert len(emails) > 50
    assert all(digest == hashlib.sha256(email.encode()).hexdigest() for email, digest in pairs if email)
    assert all(digest is None for email, digest in pairs if not email)
    assert "@" not in analyst_text


def test_tagging_a_column_in_yaml_masks_it_in_the_analyst_view(world, tmp_path):
    """The masked select is generated from the tags: tag `city` for hashing and `company` for dropping, and
    the next compile of the analyst view hashes and drops them, with no change to the view's SQL."""
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt_project_dir(), project, ignore=shutil.ignore_patterns("target", "dbt_packages", "logs"))
    marts_yml = project / "models" / "marts" / "_marts__models.yml"
    properties = yaml.safe_load(marts_yml.read_text())
    (golden,) = [model for model in properties["models"] if model["name"] == "golden_customers"]
    for column in golden["columns"]:
        if column["name"] in ("city", "company"):
            column["config"] = {"meta": {"pii": True, "masking": "hash" if column["name"] == "city" else "drop"}}
    marts_yml.write_text(yaml.safe_dump(properties, sort_keys=False))

    target = tmp_path / "target"
    run_dbt(
        [
            "compile",
            "--select",
            "analyst__golden_customers",
            "--project-dir",
            str(project),
            "--target-path",
            str(target),
        ],
        world,
    )
    (compiled,) = target.glob("compiled/**/analyst__golden_customers.sql")
    sql = compiled.read_text()
    assert re.search(r"sha256\(cast\(city as varchar\)\) as city_sha256", sql)
    assert not re.search(r"\bcompany\b", sql)
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        columns = [d[0] for d in con.execute(f"select * from ({sql}) limit 0").description]
        hashed = con.execute(
            f"select count(*) from ({sql}) as masked inner join marts.golden_customers as golden using (customer_id)"
            " where masked.city_sha256 = sha256(golden.city)"
        ).fetchone()[0]
    assert "city" not in columns and "company" not in columns and "city_sha256" in columns
    assert hashed > 50


def test_duckdb_analysts_get_a_file_holding_only_the_masked_tables(world, manifest):
    """DuckDB has no roles, so the boundary is a file: each publication writes the analyst views' rows as tables."""
    publish_warehouse(world)
    path = analyst_file_path(world)
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name, table_type from information_schema.tables order by 1, 2"
        ).fetchall()
        columns = _columns(con, "analyst", "golden_customers")
        text = " ".join(
            str(value) for row in con.execute("select * from analyst.golden_customers").fetchall() for value in row
        )
        customers = con.execute("select count(*) from analyst.golden_customers").fetchone()[0]
    assert tables == [
        ("analyst", view["alias"], "BASE TABLE")
        for view in sorted(_analyst_views(manifest), key=lambda view: view["alias"])
    ]
    assert "email_sha256" in columns and not NEVER_SHOWN & set(columns)
    assert customers > 50 and "@" not in text


# PostgreSQL: the roles and grants, tried by logging in.


@pytest.fixture(scope="module")
def postgres_warehouse(world):
    """The same lake built on a throwaway PostgreSQL database, and three login roles: one in the analyst
    role, one in the activation role, one in neither. Yields (dbt's connection settings, login role names)."""
    suffix = uuid.uuid4().hex[:8]
    logins = {
        "analyst": f"tessera_test_analyst_{suffix}",
        "activation": f"tessera_test_activation_{suffix}",
        "nobody": f"tessera_test_nobody_{suffix}",
    }
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with throwaway_postgres_database() as url, postgres_target(url) as env:
            run_transform(world, target="postgres")
            # An earlier setup opened the marts to everyone; the next build closes them again. It also finds
            # the roles and grants in place and keeps them (idempotent hooks).
            with connect(env) as conn, conn.cursor() as cur:
                cur.execute("grant usage on schema marts, segments to public")
            run_dbt(["run", "--select", "analyst", "golden_customers"], world, target="postgres")
            with admin.connect() as conn:
                conn.execute(sa.text(f'create role "{logins["analyst"]}" login in role {ANALYST_ROLE}'))
                conn.execute(sa.text(f'create role "{logins["activation"]}" login in role {ACTIVATION_ROLE}'))
                conn.execute(sa.text(f'create role "{logins["nobody"]}" login'))
            yield env, logins
    finally:
        with admin.connect() as conn:
            for role in logins.values():
                conn.execute(sa.text(f'drop role if exists "{role}"'))
        admin.dispose()


@contextmanager
def _login(env: dict[str, str], role: str) -> Iterator:
    """A connection as `role` (trust authentication on loopback), closed afterwards."""
    conn = psycopg2.connect(
        host=env["TESSERA_PG_HOST"], port=int(env["TESSERA_PG_PORT"]), user=role, dbname=env["TESSERA_PG_DBNAME"]
    )
    try:
        yield conn
    finally:
        conn.close()


def _select(env: dict[str, str], role: str, sql: str) -> list[tuple]:
    with _login(env, role) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _refusal(env: dict[str, str], role: str, sql: str) -> str:
    """The error PostgreSQL gives `role` for `sql` (the test fails if the query is allowed)."""
    with _login(env, role) as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege) as refused:
            cur.execute(sql)
        return str(refused.value)


def test_the_analyst_role_is_refused_every_unmasked_schema(postgres_warehouse):
    env, logins = postgres_warehouse
    assert "permission denied for schema marts" in _refusal(
        env, logins["analyst"], "select email from marts.golden_customers"
    )
    with connect(env) as conn, conn.cursor() as cur:
        cur.execute(
            "select table_schema, table_name from information_schema.tables where table_schema = any(%s) order by 1, 2",
            (FULL_SCHEMAS,),
        )
        tables = cur.fetchall()
    assert {schema for schema, _ in tables} == set(FULL_SCHEMAS)
    for schema, table in tables:
        message = _refusal(env, logins["analyst"], f'select 1 from "{schema}"."{table}" limit 1')
        assert f"permission denied for schema {schema}" in message


def test_the_analyst_role_reads_the_masked_views_with_no_plain_email(postgres_warehouse):
    env, logins = postgres_warehouse
    rows = _select(env, logins["analyst"], "select * from analyst.golden_customers order by customer_id")
    with connect(env) as conn, conn.cursor() as cur:
        cur.execute("select customer_id, email from marts.golden_customers order by customer_id")
        golden = cur.fetchall()
        cur.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'analyst' and table_name = 'golden_customers' order by ordinal_position"
        )
        columns = [row[0] for row in cur.fetchall()]
    assert len(rows) == len(golden) > 50
    assert "email_sha256" in columns and not NEVER_SHOWN & set(columns)
    digests = dict(zip([row[0] for row in rows], [row[columns.index("email_sha256")] for row in rows], strict=True))
    emails = {customer: email for customer, email in golden if email}
    assert len(emails) > 50
    assert all(digests[customer] == hashlib.sha256(email.encode()).hexdigest() for customer, email in emails.items())
    assert not any("@" in str(value) for row in rows for value in row)
    for view in ("customer_xref", "customer_consent_history", "lapsed_vips", "golden_customer_lineage"):
        assert _select(env, logins["analyst"], f"select count(*) from analyst.{view}")[0][0] >= 0


def test_the_activation_role_reads_the_full_schemas_and_not_the_analyst_views(postgres_warehouse):
    env, logins = postgres_warehouse
    rows = _select(env, logins["activation"], "select count(*), count(email) from marts.golden_customers")
    assert rows[0][0] > 50 and rows[0][1] > 50
    assert _select(env, logins["activation"], "select count(*) from segments.lapsed_vips")[0][0] >= 0
    assert _select(env, logins["activation"], "select count(*) from staging.stg_crm__contacts")[0][0] > 0
    assert "permission denied for schema analyst" in _refusal(
        env, logins["activation"], "select 1 from analyst.golden_customers"
    )


def test_a_role_in_neither_group_reads_nothing(postgres_warehouse):
    env, logins = postgres_warehouse
    for relation in ("marts.golden_customers", "analyst.golden_customers", "segments.lapsed_vips"):
        schema = relation.split(".")[0]
        assert f"permission denied for schema {schema}" in _refusal(env, logins["nobody"], f"select 1 from {relation}")


def test_the_grants_are_dbt_grants_on_the_relations(postgres_warehouse):
    """`select` comes from the models' `grants` config: the analyst role holds it on the analyst views only."""
    env, _ = postgres_warehouse
    with connect(env) as conn, conn.cursor() as cur:
        cur.execute(
            "select grantee, table_schema, count(*) from information_schema.role_table_grants"
            " where privilege_type = 'SELECT' and grantee = any(%s) group by 1, 2 order by 1, 2",
            ([ANALYST_ROLE, ACTIVATION_ROLE],),
        )
        grants = {(grantee, schema): n for grantee, schema, n in cur.fetchall()}
    assert {schema for grantee, schema in grants if grantee == ANALYST_ROLE} == {"analyst"}
    assert {schema for grantee, schema in grants if grantee == ACTIVATION_ROLE} == set(FULL_SCHEMAS)
    assert grants[(ANALYST_ROLE, "analyst")] >= 10


def test_compiled_project_names_the_roles_from_vars(world, tmp_path):
    """The role names are vars: another deployment's names reach the grants without editing the project."""
    target = tmp_path / "target"
    run_dbt(
        [
            "parse",
            "--target-path",
            str(target),
            "--vars",
            "{analyst_role: acme_readers, activation_role: acme_sync}",
        ],
        world,
        target="postgres",
    )
    nodes = json.loads(Path(target / "manifest.json").read_text())["nodes"].values()
    grants = {node["name"]: node["config"].get("grants") for node in nodes if node["resource_type"] == "model"}
    assert grants["analyst__golden_customers"] == {"select": ["acme_readers"]}
    assert grants["golden_customers"] == {"select": ["acme_sync"]}
    assert grants["analyst__golden_customers"] != grants["golden_customers"]
