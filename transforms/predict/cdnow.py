"""The CDNOW data sets of Fader, Hardie & Lee (2005), read from the `lifetimes` wheel that ships them.

CDNOW customers all made their first purchase in the first quarter of 1997 and were followed to the end of
June 1998. The master file holds the whole cohort (23,570 customers), the sample file the paper's 1/10th
sample (2,357 customers). Both are whitespace-separated; the sample has an extra (original) id column, and
the master a header line. They are read with `importlib.resources` because `lifetimes.datasets` needs
`pkg_resources`.
"""

from __future__ import annotations

from importlib.resources import files

import pandas as pd

#: The paper's calibration period ends here; the holdout is the 39 weeks after (to 1998-06-30).
CALIBRATION_END = "1997-09-30"
HOLDOUT_WEEKS = 39

_FILES = {"sample": "CDNOW_sample.txt", "master": "CDNOW_master.txt"}


def read_cdnow(which: str = "sample") -> pd.DataFrame:
    """One row per order: `customer_id`, `timestamp` (the day), `quantity`, `amount` (dollars)."""
    if which not in _FILES:
        raise ValueError(f"CDNOW data set must be one of {sorted(_FILES)}, not {which!r}")
    path = files("lifetimes") / "datasets" / _FILES[which]
    if which == "sample":
        names, skip = ["original_id", "customer_id", "date", "quantity", "amount"], 0
    else:
        names, skip = ["customer_id", "date", "quantity", "amount"], 1
    with path.open("r") as handle:
        raw = pd.read_csv(handle, sep=r"\s+", header=None, names=names, skiprows=skip, dtype={"date": str})
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype("int64"),
            "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "quantity": raw["quantity"].astype("int64"),
            "amount": raw["amount"].astype("float64"),
        }
    )
