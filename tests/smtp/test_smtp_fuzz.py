"""Hostile input: random and mutated transcripts never raise and stay chunking-independent."""
from __future__ import annotations

import random

import pytest
from smtp_transcript import C, S, decode

from smtpsniff.limits import Limits

PIECES_C = [b"EHLO x\r\n", b"MAIL FROM:<a@b>\r\n", b"RCPT TO:<c@d>\r\n", b"DATA\r\n", b"BDAT 3\r\n", b"BDAT 2 LAST\r\n",
            b"AUTH LOGIN\r\n", b"dXNlcg==\r\n", b"*\r\n", b"STARTTLS\r\n", b".\r\n", b"\r\n.\r\n", b"\n.\n", b"..x\r\n",
            b"\x16\x03\x01\x00\x05hello", b"\x00\r", b"QUIT\r\n", b"RSET\n", b"x" * 70]
PIECES_S = [b"220 mx\r\n", b"250-mx\r\n", b"250 PIPELINING\r\n", b"354 go\r\n", b"334 VXNlcm5hbWU6\r\n",
            b"235 ok\r\n", b"550 no\r\n", b"221 bye\r\n", b"garbage\r\n", b"\x16\x03\x03\x00\x02ab", b"25", b"0 ok\r\n"]


def random_transcript(rng: random.Random, n: int) -> list:
    items: list = []
    for _ in range(n):
        r = rng.random()
        if r < 0.08:
            items.append(("gap", rng.choice((C, S)), rng.randint(1, 50)))
        elif r < 0.15:
            items.append((rng.choice((C, S)), bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))))
        elif r < 0.6:
            items.append((C, b"".join(rng.choice(PIECES_C) for _ in range(rng.randint(1, 4)))))
        else:
            items.append((S, b"".join(rng.choice(PIECES_S) for _ in range(rng.randint(1, 3)))))
    return items


@pytest.mark.parametrize("seed", range(40))
def test_random_transcripts(seed: int):
    rng = random.Random(seed)
    kwargs = {"limits": Limits(max_buffered_line=48, max_message_bytes=64, max_reply_lines=3)} if seed % 2 else {}
    kwargs["implicit_tls"] = seed % 5 == 0
    kwargs["midstream"] = seed % 7 == 0
    decode(random_transcript(rng, 30), **kwargs)
