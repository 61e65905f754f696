"""What the detectors read from the tables' columns, against the same read from the records (the
oracle): the session ids of the records, connection keys, distinct counts per key, the activity
after a STARTTLS offer.  On real captures and on records changed from a fixed seed."""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest
from corpus import ROOT

import smtpsniff
from smtpsniff.analysis.capture import build_tables
from smtpsniff.findings import DetectionContext
from smtpsniff.findings.columns import connection_keys, distinct_per_key
from smtpsniff.findings.starttls_not_used import _activity, _activity_from_table

CAPTURES = ["captures/smtp-sample.pcap", "tests/data/smtp-enumeration.pcap", "tests/data/smtp-relay.pcap",
            "tests/data/smtp-starttls-attacks.pcap", "tests/data/smtp-auth-attacks.pcap"]


def _read(name: str) -> smtpsniff.Capture:
    return smtpsniff.read(ROOT / name)


@pytest.mark.parametrize("name", CAPTURES)
def test_records_of_with_and_without_tables(name):
    cap = _read(name)
    records = cap.records
    ids = [r.session.session_id for r in records]
    rng = random.Random(7)
    for _ in range(20):
        wanted = set(rng.sample(ids, rng.randint(0, len(ids))))
        expected = [r for r in records if r.session.session_id in wanted]
        assert DetectionContext(records=records, credentials=[], tables=cap.tables).records_of(wanted) == expected
        assert DetectionContext(records=records, credentials=[]).records_of(wanted) == expected
    # A sessions table of other records (reversed) is not used for the ids.
    mixed = DetectionContext(records=records[::-1], credentials=[], tables=cap.tables)
    if len(records) > 1:
        assert mixed._ids_from_table() is None
    assert mixed.records_of(set(ids[:3])) == [r for r in records[::-1] if r.session.session_id in set(ids[:3])]


@pytest.mark.parametrize("name", CAPTURES)
def test_connection_keys_and_distinct_counts(name):
    cap = _read(name)
    sessions, recipients, commands = cap.tables["sessions"], cap.tables["recipients"], cap.tables["commands"]
    keys = connection_keys(sessions, (recipients, commands))
    assert keys is not None
    pair_of = {r.session.session_id: (r.session.client_ip, r.session.server_ip) for r in cap.records}
    key_of_pair: dict[tuple[str, str], int] = {}
    for table, found in zip((sessions, recipients, commands), keys):
        for sid, key in zip(table["session_id"].tolist(), found.tolist()):
            assert key_of_pair.setdefault(pair_of[sid], key) == key  # one key per pair, in every table
    assert len(set(key_of_pair.values())) == len(key_of_pair)  # and another for each other pair
    addresses: dict[int, set] = defaultdict(set)
    for r in cap.records:
        for rc in r.recipients:
            addresses[key_of_pair[pair_of[rc.session_id]]].add(rc.address)
    assert distinct_per_key(keys[1], recipients["address"]) == {k: len(v) for k, v in addresses.items()}
    # Categories in another order are refused.
    reordered = recipients.assign(client_ip=recipients["client_ip"].cat.reorder_categories(
        recipients["client_ip"].cat.categories[::-1]))
    if len(recipients) and len(recipients["client_ip"].cat.categories) > 1:
        assert connection_keys(sessions, (reordered,)) is None


def test_distinct_per_key_odd_values():
    import pandas as pd

    values = pd.Series(["a", "A", None, "a", "b", None, "", ""], dtype="string")
    keys = np.array([1, 1, 1, 2, 2, 2, 3, 1], dtype=np.int64)
    assert distinct_per_key(keys, values) == {1: 4, 2: 3, 3: 1}
    assert distinct_per_key(keys[:0], values[:0]) == {}


def _shifted(records, rng: random.Random):
    """The records with command times moved around the offer times, verbs swapped among activity ones."""
    out = []
    for r in records:
        commands = tuple(replace(c, ts_ns=c.ts_ns + rng.choice([-10**9, 0, 1, 10**9]),
                                 verb=rng.choice(["MAIL", "RCPT", "AUTH", "NOOP", "ETRN", c.verb]))
                         if rng.random() < 0.4 else c for c in r.commands)
        out.append(replace(r, commands=commands))
    return out


@pytest.mark.parametrize("name", CAPTURES)
def test_activity_from_the_table_is_the_records(name):
    cap = _read(name)
    for seed in range(4):
        records = cap.records if seed == 0 else _shifted(cap.records, random.Random(seed))
        tables = cap.tables if seed == 0 else build_tables(records)
        rng = random.Random(seed)
        chosen = [r for r in records if rng.random() < 0.8]
        times = [min((c.ts_ns for c in r.commands), default=r.session.start_ns) + rng.choice([-1, 0, 1, 10**8])
                 for r in chosen]
        ctx = DetectionContext(records=records, credentials=[], tables=tables)
        found = _activity_from_table(ctx, [r.session.session_id for r in chosen], times)
        assert found == [_activity(r, t) for r, t in zip(chosen, times)]
