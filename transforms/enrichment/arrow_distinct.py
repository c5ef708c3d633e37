"""Apply a per-value Python function to an Arrow column once per distinct value.

Enrichment and phone parsing call libraries that work one value at a time, while columns repeat the
same few values endlessly; dictionary-encoding first keeps the Python work proportional to the
number of distinct values, not rows.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc


def map_distinct(values: pa.Array | pa.ChunkedArray, fn: Callable[[str], str | None]) -> pa.Array:
    """`fn` applied to each distinct non-null string of `values`, spread back to every row (nulls stay null)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    results = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return pc.take(results, encoded.indices)
