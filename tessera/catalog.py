"""The sources Tessera collects and the streams each lands (light enough to import at DAG parse time)."""

from __future__ import annotations

#: source -> streams, as they land in `lake/raw/<source>/<stream>/`.
STREAMS: dict[str, tuple[str, ...]] = {
    "crm": ("contacts",),
    "email": ("subscribers", "events"),
    "pos": ("loyalty_members", "transactions"),
    "web": ("events",),
}

#: source -> the Airflow connection that says where it is.
CONN_IDS: dict[str, str] = {source: f"tessera_{source}" for source in STREAMS}
