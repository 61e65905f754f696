"""What detectors read from the tables' columns to find the few sessions worth their loops.

The tables (``sessions``, ``commands``, ``recipients``...) hold the records' fields column by column:
reading a column touches one array, where reading the same field of every record touches every
record.  A detector asks here which sessions *could* hold a finding (a superset, by a bound that
the records cannot exceed), then reads only those records.  The tables must have been built from
the detector's records (as :mod:`.verbs` also assumes); anything unexpected in them (another
category order, a connection missing) answers None: read every record.

Only table and array methods are used here; this module imports neither pandas nor output.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

_CONNECTION = ("client_ip", "server_ip")


def connection_keys(sessions, others: Sequence) -> list[np.ndarray] | None:
    """One integer per row of ``sessions`` and of each table of ``others``: equal for two rows of
    the same client and server addresses, whichever tables they are in.

    Read from the category codes of ``client_ip`` and ``server_ip``; the other tables took their
    categories from ``sessions`` (:func:`~smtpsniff.analysis.tables.add_connection_columns`), which
    is checked: any other categories, or a missing address, answer None.
    """
    dtypes = [sessions[name].dtype for name in _CONNECTION]
    width = len(dtypes[1].categories) + 1
    out = []
    for table in (sessions, *others):
        codes = []
        for name, dtype in zip(_CONNECTION, dtypes):
            if not len(table):
                codes.append(np.zeros(0, dtype=np.int64))
                continue
            column = table[name]
            theirs = column.dtype
            if not (theirs is dtype or (getattr(theirs, "categories", None) is not None
                                        and theirs.categories.equals(dtype.categories))):
                return None
            found = column.cat.codes.to_numpy().astype(np.int64)
            if found.min() < 0:
                return None
            codes.append(found)
        out.append(codes[0] * width + codes[1])
    return out


def distinct_per_key(keys: np.ndarray, values) -> dict[int, int]:
    """For each key of ``keys``: how many distinct values of ``values`` (a column, row by row with
    ``keys``) its rows hold, missing values counted as one more value."""
    if not len(keys):
        return {}
    codes, uniques = values.factorize()
    codes = np.asarray(codes, dtype=np.int64) + 1  # a missing value (-1) is value 0
    groups, group_of_row = np.unique(keys, return_inverse=True)
    pairs = np.unique(group_of_row.astype(np.int64) * (len(uniques) + 1) + codes)
    found, counts = np.unique(pairs // (len(uniques) + 1), return_counts=True)
    return dict(zip(groups[found].tolist(), counts.tolist()))


def tables_of(tables: Mapping[str, object], names: Sequence[str], records: Sequence) -> list | None:
    """The tables ``names`` when every one was built and ``sessions`` has a row per record, else None."""
    found = [tables.get(name) for name in names]
    if any(t is None for t in found):
        return None
    sessions = tables.get("sessions")
    if sessions is None or len(sessions) != len(records):  # type: ignore[arg-type]
        return None
    return found
