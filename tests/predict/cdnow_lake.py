"""The CDNOW sample landed in a lake as a point-of-sale system would land it, so the paper's table can be
reproduced through the whole pipeline (landing contract, staging, identity resolution, features).

Each CDNOW customer is a loyalty member with nothing but a card number (CDNOW has no names or contacts), and
each CDNOW line a till receipt carrying that card, dated at midnight UTC of its day, in US dollars.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from pathlib import Path

import pandas as pd

from tests.lake_writer import land, land_empty_streams
from transforms.predict.cdnow import read_cdnow

#: One batch per stream, extracted after the last CDNOW purchase (June 1998).
BATCH_ID = "19980701T000000Z"


def cdnow_transactions(which: str = "sample") -> pd.DataFrame:
    """CDNOW's orders with what a till would record: a receipt id, the card, the time (UTC) and the amount."""
    orders = read_cdnow(which)
    return pd.DataFrame(
        {
            "transaction_id": [f"cdnow-{n:06d}" for n in range(len(orders))],
            "loyalty_id": orders["customer_id"].astype(str),
            "occurred_at": orders["timestamp"].dt.tz_localize(UTC),
            "total_amount": [Decimal(f"{amount:.2f}") for amount in orders["amount"]],
            "item_count": orders["quantity"],
        }
    )


def land_cdnow(lake: Path, which: str = "sample") -> pd.DataFrame:
    """Land CDNOW's customers and orders in `lake` (every other stream empty); returns the transactions."""
    transactions = cdnow_transactions(which)
    joined = transactions.groupby("loyalty_id", as_index=False)["occurred_at"].min()
    members = [
        {"loyalty_id": loyalty_id, "enrolled_at": first, "updated_at": first}
        for loyalty_id, first in zip(joined["loyalty_id"], joined["occurred_at"].dt.to_pydatetime(), strict=True)
    ]
    land(lake, "pos", "loyalty_members", BATCH_ID, members)
    receipts = transactions.assign(currency="USD", occurred_at=transactions["occurred_at"].dt.to_pydatetime())
    land(lake, "pos", "transactions", BATCH_ID, receipts.to_dict("records"))
    land_empty_streams(lake)
    return transactions
