"""The files destination writing to a local folder, a real SFTP server and an S3 server, faults included."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import boto3
import httpx
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer
from tessera_simulator.destinations.sftp_server import SftpServer, serve_sftp

from connectors.connection import ConnectionInfo
from connectors.destinations.base import DestinationError, Member, Mode, Snapshot, SyncRun
from connectors.destinations.files import FilesDestination

pytestmark = pytest.mark.integration

SEGMENT, DESTINATION = "lapsed_vips", "partner_drop"
RUN_1, RUN_2 = "20261128T060000Z", "20261129T060000Z"
FAST_RETRIES = {"max_attempts": 3, "initial_wait_seconds": 0.01, "max_wait_seconds": 0.05, "timeout_seconds": 5}
SFTP_USER, SFTP_PASSWORD = "partner", "correct horse battery staple"
BUCKET_NUMBERS = itertools.count(1)  #: one bucket per test on the module's S3 server
S3_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}

ADA = Member(
    "c1",
    {"email": "ada@example.com", "phone": "+447700900123"},
    {"first_name": "Ada", "lifetime_value": 1234.5, "orders": 12, "vip": True, "last_order_at": "2026-11-27T18:04:00Z"},
)
BO = Member(
    "c2",
    {"email": "bo@example.com"},
    {"first_name": 'Bo "The Boss", Jr.', "lifetime_value": 80.0, "orders": 1, "vip": False, "last_order_at": None},
)
ZOE = Member(
    "c3",
    {"phone": "+14155550100"},
    {"first_name": "Zoë\nsecond line", "lifetime_value": None, "orders": 0, "vip": None, "last_order_at": None},
)
CY = Member(
    "c4",
    {"email": "cy@example.com"},
    {"first_name": "Cy", "lifetime_value": 5.25, "orders": 2, "vip": False, "last_order_at": "2026-11-28T12:00:00Z"},
)
COLUMNS = ["first_name", "lifetime_value", "orders", "vip", "last_order_at"]
FIRST = Snapshot(members=[ADA, BO, ZOE], columns=COLUMNS, added=3, removed=0, previous_size=None)
SECOND = Snapshot(members=[ADA, ZOE, CY], columns=COLUMNS, added=1, removed=1, previous_size=3)
HEADER = ["customer_id", "email", "phone", *COLUMNS]
#: The first snapshot as any CSV reader sees it: RFC 4180 quoting keeps the quote, comma and newline.
FIRST_CSV = [
    HEADER,
    ["c1", "ada@example.com", "+447700900123", "Ada", "1234.5", "12", "true", "2026-11-27T18:04:00Z"],
    ["c2", "bo@example.com", "", 'Bo "The Boss", Jr.', "80", "1", "false", ""],
    ["c3", "", "+14155550100", "Zoë\nsecond line", "", "0", "", ""],
]


def as_rows(snapshot: Snapshot) -> list[dict]:
    """The snapshot as Parquet gives it back: typed values, identifiers a member lacks as null."""
    return [
        {"customer_id": m.key, "email": m.identifiers.get("email"), "phone": m.identifiers.get("phone"), **m.fields}
        for m in snapshot.members
    ]


def run(run_id: str) -> SyncRun:
    return SyncRun(segment=SEGMENT, destination=DESTINATION, mode=Mode.SNAPSHOT, run_id=run_id)


@dataclass
class Place:
    """Where a destination writes, and how the test reads it back without the connector."""

    conn_type: str
    connection: dict
    read: Callable[[str], bytes | None]

    def destination(self, run_id: str = RUN_1, **extra) -> FilesDestination:
        settings = {**self.connection, "extra": {"kind": "files", **FAST_RETRIES, **self.connection["extra"], **extra}}
        return FilesDestination(ConnectionInfo(f"tessera_dest_{DESTINATION}", self.conn_type, **settings), run(run_id))

    def deliver(self, snapshot: Snapshot, run_id: str, **extra) -> str:
        destination = self.destination(run_id, **extra)
        try:
            return destination.deliver_snapshot(snapshot)
        finally:
            destination.close()

    def manifest(self, run_id: str) -> dict | None:
        data = self.read(f"{SEGMENT}/{run_id}/manifest.json")
        return json.loads(data) if data is not None else None


def read_file(root: Path) -> Callable[[str], bytes | None]:
    def read(path: str) -> bytes | None:
        return (root / path).read_bytes() if (root / path).is_file() else None

    return read


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def sftp_server(tmp_path):
    (tmp_path / "sftp-root" / "drops").mkdir(parents=True)
    with serve_sftp(tmp_path / "sftp-root", SFTP_USER, SFTP_PASSWORD) as server:
        yield server


def local_place(tmp_path: Path) -> Place:
    root = tmp_path / "exports"
    return Place("fs", {"extra": {"path": str(root)}}, read_file(root))


def sftp_place(server: SftpServer) -> Place:
    connection = {
        "host": server.host,
        "port": server.port,
        "login": SFTP_USER,
        "password": SFTP_PASSWORD,
        "extra": {"path": "/drops", "host_key": server.host_key},
    }
    return Place("sftp", connection, read_file(server.root / "drops"))


def s3_place(endpoint: str) -> Place:
    bucket = f"tessera-exports-{next(BUCKET_NUMBERS)}"
    s3 = boto3.client("s3", endpoint_url=endpoint, **S3_KEYS)
    s3.create_bucket(Bucket=bucket)

    def read(path: str) -> bytes | None:
        try:
            return s3.get_object(Bucket=bucket, Key=f"exports/{path}")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None

    connection = {
        "login": S3_KEYS["aws_access_key_id"],
        "password": S3_KEYS["aws_secret_access_key"],
        "extra": {"bucket": bucket, "prefix": "exports/", "endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    return Place("s3", connection, read)


@pytest.fixture(params=["local", "sftp", "s3"])
def place(request, tmp_path) -> Place:
    if request.param == "local":
        return local_place(tmp_path)
    if request.param == "sftp":
        return sftp_place(request.getfixturevalue("sftp_server"))
    return s3_place(request.getfixturevalue("s3_endpoint"))


def parsed(data: bytes, fmt: str) -> list:
    if fmt == "csv":
        return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return pq.read_table(io.BytesIO(data)).to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_snapshot_lands_with_a_manifest_that_describes_its_bytes(place, fmt):
    location = place.deliver(FIRST, RUN_1, format=fmt)

    file = f"{SEGMENT}/{RUN_1}/{SEGMENT}.{fmt}"
    data = place.read(file)
    assert parsed(data, fmt) == (FIRST_CSV if fmt == "csv" else as_rows(FIRST))
    if fmt == "csv":
        assert data.startswith(b'"customer_id","email","phone","first_name"') and data.count(b"\r\n") == 4
    manifest = place.manifest(RUN_1)
    assert manifest == {
        "segment": SEGMENT,
        "destination": DESTINATION,
        "run_id": RUN_1,
        "format": fmt,
        "file": file,
        "rows": 3,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "columns": HEADER,
        "added": 3,
        "removed": 0,
        "previous_rows": None,
        "created_at": manifest["created_at"],
    }
    assert place.read(f"{SEGMENT}/latest.json") == place.read(f"{SEGMENT}/{RUN_1}/manifest.json")
    assert location.endswith(file)


def test_a_second_run_gets_its_own_folder_and_moves_latest(place):
    place.deliver(FIRST, RUN_1)
    first_bytes = place.read(f"{SEGMENT}/{RUN_1}/{SEGMENT}.csv")
    place.deliver(SECOND, RUN_2)

    assert place.read(f"{SEGMENT}/{RUN_1}/{SEGMENT}.csv") == first_bytes
    second = place.read(f"{SEGMENT}/{RUN_2}/{SEGMENT}.csv")
    assert [row[0] for row in parsed(second, "csv")] == ["customer_id", "c1", "c3", "c4"]
    manifest = place.manifest(RUN_2)
    assert (manifest["rows"], manifest["added"], manifest["removed"], manifest["previous_rows"]) == (3, 1, 1, 3)
    assert manifest["sha256"] == hashlib.sha256(second).hexdigest()
    assert json.loads(place.read(f"{SEGMENT}/latest.json")) == manifest


def test_an_older_run_delivered_late_does_not_move_latest_back(tmp_path):
    """An Airflow run cleared and re-run after a newer one must not make consumers read older data."""
    place = local_place(tmp_path)
    place.deliver(SECOND, RUN_2)
    place.deliver(FIRST, RUN_1)

    assert place.manifest(RUN_1)["rows"] == 3
    assert json.loads(place.read(f"{SEGMENT}/latest.json"))["run_id"] == RUN_2


def test_a_cut_during_the_upload_is_retried_on_a_new_connection(sftp_server):
    place = sftp_place(sftp_server)
    sftp_server.drop_after_bytes(100)
    destination = place.destination(RUN_1)
    destination.deliver_snapshot(FIRST)
    destination.close()

    assert parsed(place.read(f"{SEGMENT}/{RUN_1}/{SEGMENT}.csv"), "csv") == FIRST_CSV
    assert destination.retried == 1 and sftp_server.logins == 2
    assert place.manifest(RUN_1)["rows"] == 3


def assert_run_2_incomplete(place: Place) -> None:
    """No manifest for the failed run, and consumers are still pointed at the first one."""
    assert place.manifest(RUN_2) is None
    assert place.read(f"{SEGMENT}/latest.json") == place.read(f"{SEGMENT}/{RUN_1}/manifest.json")
    assert json.loads(place.read(f"{SEGMENT}/latest.json"))["run_id"] == RUN_1


def test_an_sftp_connection_cut_mid_upload_every_time_leaves_no_file_and_no_manifest(sftp_server):
    place = sftp_place(sftp_server)
    place.deliver(FIRST, RUN_1)
    sftp_server.drop_after_bytes(200, times=FAST_RETRIES["max_attempts"])

    with pytest.raises(DestinationError) as failure:
        place.deliver(SECOND, RUN_2)

    message = str(failure.value)
    assert f"SFTP {SFTP_USER}@{sftp_server.host}:{sftp_server.port}" in message
    assert f"/drops/{SEGMENT}/{RUN_2}/{SEGMENT}.csv" in message and "after 3 attempts" in message
    run_folder = sftp_server.root / "drops" / SEGMENT / RUN_2
    assert sorted(p.name for p in run_folder.iterdir() if not p.name.startswith(".")) == []
    assert [p.stat().st_size for p in run_folder.iterdir()] == [200] * 3  # the cut uploads, under hidden names
    assert_run_2_incomplete(place)


def test_an_sftp_connection_cut_before_the_manifest_is_renamed_leaves_no_manifest(sftp_server):
    place = sftp_place(sftp_server)
    place.deliver(FIRST, RUN_1)
    sftp_server.drop_on_rename(times=FAST_RETRIES["max_attempts"], name="manifest.json")

    with pytest.raises(DestinationError, match=rf"writing sftp://.*/drops/{SEGMENT}/{RUN_2}/manifest\.json"):
        place.deliver(SECOND, RUN_2)

    assert parsed(place.read(f"{SEGMENT}/{RUN_2}/{SEGMENT}.csv"), "csv")[1][0] == "c1"  # the data went first
    assert_run_2_incomplete(place)


def test_a_local_write_failing_mid_way_leaves_no_manifest(tmp_path):
    place = local_place(tmp_path)
    place.deliver(FIRST, RUN_1)
    (tmp_path / "exports" / SEGMENT / RUN_2 / "manifest.json" / "in-the-way").mkdir(parents=True)

    with pytest.raises(DestinationError, match=rf"writing file://.*/{RUN_2}/manifest\.json \(local folder .*exports\)"):
        place.deliver(SECOND, RUN_2)

    assert place.read(f"{SEGMENT}/{RUN_2}/{SEGMENT}.csv") is not None
    assert_run_2_incomplete(place)


def test_an_s3_upload_refused_mid_way_leaves_no_manifest(s3_endpoint):
    """A bucket policy that refuses one key (a real AccessDenied from the S3 server) stops the run there."""
    place = s3_place(s3_endpoint)
    bucket = place.connection["extra"]["bucket"]
    iam = boto3.client("iam", endpoint_url=s3_endpoint, **S3_KEYS)
    iam.create_user(UserName=f"writer-{bucket}")
    key = iam.create_access_key(UserName=f"writer-{bucket}")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
            {
                "Effect": "Deny",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/exports/{SEGMENT}/{RUN_2}/manifest.json",
            },
        ],
    }
    iam.put_user_policy(UserName=f"writer-{bucket}", PolicyName="drop", PolicyDocument=json.dumps(policy))
    place.connection.update(login=key["AccessKeyId"], password=key["SecretAccessKey"])
    httpx.post(f"{s3_endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()  # check keys from now on
    try:
        place.deliver(FIRST, RUN_1)
        with pytest.raises(DestinationError) as failure:
            place.deliver(SECOND, RUN_2)
    finally:
        httpx.post(f"{s3_endpoint}/moto-api/reset-auth", content=b"inf").raise_for_status()

    assert f"s3://{bucket}/exports/{SEGMENT}/{RUN_2}/manifest.json" in str(failure.value)
    assert f"S3 bucket {bucket} on {s3_endpoint}" in str(failure.value) and "AccessDenied" in str(failure.value)
    assert place.read(f"{SEGMENT}/{RUN_2}/{SEGMENT}.csv") is not None
    assert_run_2_incomplete(place)


def test_a_wrong_sftp_password_stops_the_sync_without_retrying(sftp_server):
    place = sftp_place(sftp_server)
    place.connection["password"] = "wrong"
    destination = place.destination(RUN_1)

    with pytest.raises(DestinationError, match=rf"SFTP {SFTP_USER}@127\.0\.0\.1:{sftp_server.port}.*Authentication"):
        destination.deliver_snapshot(FIRST)

    assert destination.retried == 0 and sftp_server.logins == 0
    assert not (sftp_server.root / "drops" / SEGMENT).exists()


def test_an_sftp_server_with_another_host_key_is_refused(sftp_server):
    place = sftp_place(sftp_server)
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    destination = place.destination(RUN_1, host_key=impostor)

    with pytest.raises(
        DestinationError,
        match=r"\(SFTP .*\) failed: HostKeyMismatch: the server.s host key ssh-ed25519 SHA256:.* is not extra.host_key",
    ):
        destination.deliver_snapshot(FIRST)

    assert sftp_server.logins == 0


def test_sftp_login_with_a_private_key(tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    public = key.export_public_key("openssh").decode()
    with serve_sftp(tmp_path, SFTP_USER, "not used", authorized_key=public) as server:
        place = sftp_place(server)
        del place.connection["password"]
        place.connection["extra"].update(path="", private_key=key.export_private_key("openssh").decode())

        place.deliver(FIRST, RUN_1)

        assert parsed((tmp_path / SEGMENT / RUN_1 / f"{SEGMENT}.csv").read_bytes(), "csv") == FIRST_CSV


@pytest.mark.parametrize(
    ("conn_type", "extra", "error"),
    [
        ("fs", {"path": "/tmp", "format": "xlsx"}, "extra 'format' must be csv or parquet, got 'xlsx'"),
        ("fs", {}, "a local-folder destination needs extra.path"),
        ("s3", {"prefix": "x"}, "an S3 destination needs extra.bucket"),
        ("ftp", {"path": "/tmp"}, "conn_type 'ftp' is not fs, sftp, aws or s3"),
        (
            "sftp",
            {"private_key": "not a key"},
            "extra.private_key is not an Ed25519, ECDSA or RSA private key (or its password is wrong)",
        ),
    ],
)
def test_a_misconfigured_connection_is_named_in_the_error(conn_type, extra, error):
    conn = ConnectionInfo("tessera_dest_partner_drop", conn_type, host="h", login="u", extra={"kind": "files", **extra})
    with pytest.raises(DestinationError) as failure:
        FilesDestination(conn, run(RUN_1))
    assert str(failure.value) == f"files destination {DESTINATION}: connection 'tessera_dest_partner_drop': {error}"


def test_a_column_mixing_types_is_refused_before_anything_is_written(tmp_path):
    place = local_place(tmp_path)
    mixed = Snapshot(
        members=[ADA, Member("c9", {"email": "x@example.com"}, {"orders": "many"})],
        columns=["orders"],
        added=2,
        removed=0,
        previous_size=None,
    )
    with pytest.raises(DestinationError, match=r"column 'orders' mixes value types \(int, str\)"):
        place.deliver(mixed, RUN_1)
    assert not (tmp_path / "exports").exists()


def test_an_empty_segment_still_gets_a_file_with_its_header(tmp_path):
    """Consumers load every run; an empty one is a header and a manifest saying 0 rows, not a missing file."""
    place = local_place(tmp_path)
    place.deliver(Snapshot(members=[], columns=COLUMNS, added=0, removed=3, previous_size=3), RUN_2)

    assert parsed(place.read(f"{SEGMENT}/{RUN_2}/{SEGMENT}.csv"), "csv") == [["customer_id", *COLUMNS]]
    assert (place.manifest(RUN_2)["rows"], place.manifest(RUN_2)["removed"]) == (0, 3)
