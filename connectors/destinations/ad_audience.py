"""Ad-platform custom audiences (Meta's shape): members uploaded as rows of hashed e-mail and phone.

`POST {host}/{audience_id}/users` adds rows and `DELETE` removes them, at most 10,000 a call, each as
`{"payload": {"schema": ["EMAIL", "PHONE"], "data": [[sha256, sha256], ...]}}`. A person in an audience
is the row of hashes they were added with, and both calls are set operations: a batch sent again after
its answer was lost leaves the audience as one send would. An identifier cannot be edited in place, so an
update removes the member's previous row and adds the new one. The answer counts the rows the platform
could not read and names a sample of them with a reason: those members are rejected with that reason and
the rest confirmed.

Connection: `host` is the API's base URL with its version (`https://graph.facebook.com/v21.0`),
`password` the access token; extra: `audience_id` (required), `platform` (hashing rules of
`connectors/destinations/hashing.py`, default "meta").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from connectors.connection import ConnectionInfo
from connectors.destinations.base import (
    BatchRefused,
    Change,
    Delivery,
    Destination,
    DestinationError,
    Member,
    Mode,
    SyncRun,
)
from connectors.destinations.hashing import PLATFORMS, hashed_rows
from connectors.destinations.http import DestinationClient

MAX_ROWS = 10_000
NO_IDENTIFIER = "no e-mail or phone to match on"


class AdAudienceDestination(Destination):
    kind = "ad_audience"
    modes = frozenset({Mode.MIRROR, Mode.ADD_REMOVE})
    keyed_by_identifiers = True
    batch_size = MAX_ROWS

    def __init__(self, conn: ConnectionInfo, run: SyncRun):
        super().__init__(conn, run)
        self.name = f"{run.destination} (ad_audience)"
        self.audience_id = conn.option("audience_id", "", str).strip()
        if not self.audience_id:
            raise DestinationError(
                f"{self.name}: connection {conn.conn_id!r} has no extra 'audience_id'; "
                "set it to the id of the custom audience this destination fills"
            )
        # Smaller batches for a platform that is slow to answer large ones; never above its limit.
        self.batch_size = min(max(conn.option("batch_size", MAX_ROWS, int), 1), MAX_ROWS)
        self.platform = conn.option("platform", "meta", str)
        if self.platform not in PLATFORMS:
            raise DestinationError(
                f"{self.name}: connection {conn.conn_id!r}: extra 'platform' is {self.platform!r}; "
                f"use one of {', '.join(sorted(PLATFORMS))}"
            )
        if not conn.password:
            raise DestinationError(
                f"{self.name}: connection {conn.conn_id!r} has no access token; set it as the connection's password"
            )
        self.rules = PLATFORMS[self.platform]
        self.path = f"/{quote(self.audience_id, safe='')}/users"
        self.client = DestinationClient(conn, name=self.name, headers={"Authorization": f"Bearer {conn.password}"})

    def invalid(self, member: Member) -> str | None:
        present = [(name, value) for name, value in member.identifiers.items() if name in self.rules and value]
        if not present:
            return NO_IDENTIFIER
        for name, value in present:
            try:
                self.rules[name][1](value)
            except ValueError as exc:
                return f"{name}: {exc}"
        return None

    def send(self, change: Change, batch: Sequence[Member]) -> Delivery:
        """The engine has already set aside members `invalid` refuses, so every member here has a row."""
        if change is Change.UPDATE:
            return self._replace(batch)
        method = "DELETE" if change is Change.REMOVE else "POST"
        return self._upload(method, [m.key for m in batch], [m.identifiers for m in batch])

    def _replace(self, batch: Sequence[Member]) -> Delivery:
        """Remove the previous rows of members whose identifiers changed, then add their new rows.

        Removing first lets two members swap an identifier within one batch. A member whose normalised
        identifiers did not change has nothing to send (an audience keeps no other fields)."""
        changed = [m for m in batch if self._normalised(m.previous) != self._normalised(m)]
        before = [m for m in changed if m.previous is not None and self._normalised(m.previous)]
        removed = self._upload("DELETE", [m.key for m in before], [m.previous.identifiers for m in before])
        added = self._upload("POST", [m.key for m in changed], [m.identifiers for m in changed])
        rejected = {**removed.rejected, **added.rejected}
        return Delivery(confirmed=[m.key for m in batch if m.key not in rejected], rejected=rejected)

    def _normalised(self, member: Member | None) -> dict[str, str]:
        if member is None:
            return {}
        ids = member.identifiers
        return {name: normalise(ids[name]) for name, (_, normalise) in self.rules.items() if ids.get(name)}

    def _upload(self, method: str, keys: list[str], people: Sequence[Mapping[str, str]]) -> Delivery:
        """One call adding (POST) or removing (DELETE) the rows of `people`; `keys` name them in order."""
        if not keys:
            return Delivery()
        schema, rows = hashed_rows(self.platform, people)
        response = self.client.request(method, self.path, json={"payload": {"schema": schema, "data": rows}})
        invalid, samples = self._answer(method, response, keys)
        if not invalid:
            return Delivery(confirmed=keys)
        rejected = {}
        for key, row in zip(keys, rows, strict=True):
            reason = next((samples[value] for value in row if value in samples), None)
            if reason is not None:
                rejected[key] = str(reason)
        if len(rejected) < invalid:  # the sample named only some: the engine narrows the batch down
            raise BatchRefused(
                f"{self.name}: {method} {self.path}: {invalid} of {len(rows)} rows were invalid and the answer "
                f"named {len(rejected)} ({self._describe(keys)})",
                keys=list(rejected),
            )
        return Delivery(confirmed=[key for key in keys if key not in rejected], rejected=rejected)

    def _answer(self, method: str, response: httpx.Response, keys: list[str]) -> tuple[int, dict[str, Any]]:
        """How many rows a 200 answer found invalid and its sample of them (value -> reason), or the error
        that stops the sync."""
        call, status = f"{self.name}: {method} {self.path}", response.status_code
        if status == 200:
            try:
                answer = response.json()
                received, invalid = int(answer["num_received"]), int(answer["num_invalid_entries"])
                samples = dict(answer.get("invalid_entry_samples") or {})
            except (ValueError, KeyError, TypeError):
                raise DestinationError(
                    f"{call} answered 200 with an unreadable body: {response.text[:200]!r}"
                ) from None
            if received != len(keys):
                raise DestinationError(
                    f"{call} received {received} rows of the {len(keys)} sent ({self._describe(keys)})"
                )
            return invalid, samples
        message = graph_error_message(response)
        if status in (401, 403):
            raise DestinationError(
                f"{call}: the access token was refused for audience {self.audience_id} (HTTP {status}: {message}); "
                f"set a token allowed to manage it as the password of connection {self.conn.conn_id!r}"
            )
        if status == 404:
            raise DestinationError(
                f"{call}: audience {self.audience_id} was not found (HTTP 404: {message}); "
                f"check extra 'audience_id' of connection {self.conn.conn_id!r}"
            )
        raise DestinationError(f"{call} refused {self._describe(keys)} (HTTP {status}): {message}")

    @staticmethod
    def _describe(keys: Sequence[str]) -> str:
        return f"a batch of {len(keys)} members, keys {keys[0]}" + (f" to {keys[-1]}" if len(keys) > 1 else "")


def graph_error_message(response: httpx.Response) -> str:
    """The message of a Graph-API error body (`{"error": {"message": ...}}`), else the body's start."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or f"HTTP {response.status_code}"
