"""Every decoder survives cut and damaged exchanges: a note, never an exception."""
from __future__ import annotations

import random
from dataclasses import replace

from smtpsniff.credentials import DECODERS, credential, exchanges
from smtpsniff.credentials.mask import MASK, mask, mask_auth_argument

from security_common import read


def _real_exchanges():
    for name in ("smtp-auth.pcap", "smtp-auth-mechs.pcap"):
        for records in read(name).records:
            yield from exchanges(records)


def test_every_mechanism_is_recorded():
    assert {ex.mechanism for ex in _real_exchanges()} >= set(DECODERS) - {
        "SCRAM-SHA-512", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"}


def test_cut_and_damaged_exchanges_never_raise():
    rng = random.Random(5)
    seen = 0
    for ex in _real_exchanges():
        full = credential(ex)
        assert full.complete, (ex.mechanism, full.note)
        for cut in range(len(ex.steps)):
            c = credential(replace(ex, steps=ex.steps[:cut]))
            assert not c.complete or c.note is None
            seen += 1
        for _ in range(20):
            steps = []
            for s in ex.steps:
                data = bytearray(s.data)
                for _ in range(rng.randint(0, 4)):
                    if data:
                        data[rng.randrange(len(data))] = rng.randrange(256)
                if rng.random() < 0.2:
                    data = bytearray(rng.randbytes(rng.randint(0, 80)))
                steps.append(replace(s, data=bytes(data)))
            credential(replace(ex, steps=tuple(steps)))
            seen += 1
    assert seen > 200


def test_mask_hides_length_and_keeps_absence():
    assert mask("a") == mask("a much longer secret") == MASK
    assert mask(None) is None and mask("") == ""
    assert mask("x", show=True) == "x"
    assert mask_auth_argument("PLAIN AGFsaWNl") == f"PLAIN {MASK}"
    assert mask_auth_argument("LOGIN") == "LOGIN" and mask_auth_argument("PLAIN =") == "PLAIN ="
    assert mask_auth_argument("PLAIN AGFsaWNl", show=True) == "PLAIN AGFsaWNl"
