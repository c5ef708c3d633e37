"""The demo's destinations: stand-in ad, CRM and ESP APIs, a local file drop and a mail server, on loopback.

They take the names the demo segments' activations use (`meta_ads`, `crm`, `newsletter`,
`marketing_drop`, `marketing_team`), as Airflow connections set in the environment, so the activation
DAGs run against them exactly as they would against the real services. What marketers would see stays
under `$TESSERA_HOME/activation/`: the exports, the e-mails (`.eml`), and what each API holds (JSON).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.connections import connection_env, exported
from tessera.home import TesseraHome
from tessera_simulator.destinations.ad_audience_api import AudienceStore, ad_audience_app
from tessera_simulator.destinations.crm_api import CrmStore, crm_app
from tessera_simulator.destinations.esp_list_api import EspListStore, esp_list_app
from tessera_simulator.destinations.smtp_server import SmtpServer, serve_smtp
from tessera_simulator.servers.runner import BackgroundServer

AUDIENCE_ID, LIST_ID, SEGMENT_ID = "120000000001", "demo_newsletter", 1001
CRM_PROPERTIES = ("firstname", "lastname", "loyalty_enrolled_at", "tessera_customer_id")


@dataclass
class DemoDestinations:
    folder: Path
    audiences: AudienceStore
    crm: CrmStore
    esp: EspListStore
    smtp: SmtpServer
    outbox: Path
    environment: dict[str, str] = field(default_factory=dict)

    def write_contents(self) -> dict[str, Path]:
        """What each API destination holds now, as JSON files a person can open."""
        contents: dict[str, Any] = {
            "meta_ads": {"audience_id": AUDIENCE_ID, "members": self.audiences.size(AUDIENCE_ID),
                         "hashed_rows": sorted(sorted(map(list, row)) for row in self.audiences.members(AUDIENCE_ID))},
            "crm": {"contacts": self.crm.contacts()},
            "newsletter": {"list": self.esp.members(LIST_ID),
                           "static_segment": sorted(self.esp.segment_members(LIST_ID, SEGMENT_ID))},
        }  # fmt: skip
        written = {}
        for name, content in contents.items():
            path = self.folder / "destinations" / f"{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content, indent=2, sort_keys=True, default=str) + "\n")
            written[name] = path
        return written


@contextmanager
def demo_destinations(home: TesseraHome) -> Iterator[DemoDestinations]:
    """Serve the demo's destinations and export their connections for as long as the block runs."""
    folder = home.root / "activation"
    token, api_key = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    audiences, crm, esp = AudienceStore(), CrmStore(CRM_PROPERTIES), EspListStore()
    audiences.create(AUDIENCE_ID)
    esp.add_list(LIST_ID)
    esp.add_segment(LIST_ID, SEGMENT_ID)
    with ExitStack() as stack:
        urls = {}
        for name, app in (
            ("meta_ads", ad_audience_app(audiences, token)),
            ("crm", crm_app(crm, token)),
            ("newsletter", esp_list_app(esp, api_key)),
        ):
            server = BackgroundServer(app, f"demo-{name}")
            server.start()
            stack.callback(server.stop)
            urls[name] = server.url
        smtp = stack.enter_context(serve_smtp(folder / "outbox"))
        env = {
            **connection_env("tessera_dest_meta_ads", conn_type="http", host=f"{urls['meta_ads']}/v21.0",
                             password=token, extra={"kind": "ad_audience", "audience_id": AUDIENCE_ID}),
            **connection_env("tessera_dest_crm", conn_type="http", host=urls["crm"], password=token,
                             extra={"kind": "crm"}),
            **connection_env("tessera_dest_newsletter", conn_type="http", host=urls["newsletter"], password=api_key,
                             extra={"kind": "esp_list", "list_id": LIST_ID, "segment_id": SEGMENT_ID}),
            **connection_env("tessera_dest_marketing_drop", conn_type="fs",
                             extra={"kind": "files", "path": str(folder / "exports")}),
            **connection_env("tessera_dest_marketing_team", conn_type="smtp", host=smtp.host, port=smtp.port,
                             extra={"kind": "email", "to": ["marketing@fernhill.example"],
                                    "link_base": (folder / "exports").as_uri()}),
        }  # fmt: skip
        with exported(env):
            yield DemoDestinations(folder, audiences, crm, esp, smtp, folder / "outbox", env)
