"""The SMTP decoder's C readers (``smtp_command``, ``smtp_reply`` in smtpsniff/_native/fastpath.c)
against the pure-Python decoder (``SMTPSNIFF_NATIVE=0``), the oracle.

Every capture of the corpus is decoded both ways, as captured and re-chunked; odd and fuzzed
transcripts (bare CR/LF, NUL, 8-bit bytes, long lines, pipelining, BDAT, AUTH, STARTTLS, ESMTP
parameters of every shape, replies of every shape, small limits) must give the same events both
ways, whole and byte by byte; the C functions themselves must survive hostile arguments.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from smtp_transcript import C, S, decode, feed

import smtpsniff.pipeline as pipeline_module
from smtpsniff.capture.files import open_capture
from smtpsniff.limits import Limits
from smtpsniff.net import native
from smtpsniff.pipeline import SmtpPipeline
from smtpsniff.smtp import grammar as g
from smtpsniff.smtp.conversation import C2S, S2C, SmtpConversation
from smtpsniff.smtp.events import Command, Reply

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus import all_capture_params  # noqa: E402

pytestmark = pytest.mark.skipif(
    not native.available() or not hasattr(native._fastpath, "smtp_content"),
    reason="the C extension smtpsniff._native.fastpath is not built, or predates the SMTP readers "
           "(rebuild it: python setup.py build_ext --inplace)")


def both(monkeypatch, run):
    """``run()`` with the C readers off, then on: both results (the second must have used C)."""
    results = []
    for on in (False, True):
        monkeypatch.setenv(native.ENV_SWITCH, "1" if on else "0")
        assert (native.smtp_functions() is not None) == on
        results.append(run())
    return results


def _whole(data, rng):
    return [data]


def _two_pieces(data, rng):
    cut = rng.randrange(len(data) + 1)
    return [p for p in (data[:cut], data[cut:]) if p]


def decode_both(monkeypatch, items, chunker=_whole, **kwargs):
    py, nat = both(monkeypatch, lambda: feed(items, chunker, **kwargs)[0])
    assert nat == py, _first_difference(py, nat)
    return nat


def _first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"event {i}:\n  python {x!r}\n  C      {y!r}"
    return f"lengths {len(a)} vs {len(b)}"


# --- the corpus -----------------------------------------------------------------------------------

def recorded_calls(path: Path) -> list[tuple[dict, list[tuple]]]:
    """Every SmtpConversation the pipeline makes for ``path``: its arguments and the calls it gets."""
    made: list[tuple[dict, list[tuple]]] = []

    class Recorder(SmtpConversation):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.calls: list[tuple] = []
            # The C readers the pipeline asked for once are left out: the replay's switch decides.
            kwargs.pop("c_readers", None)
            made.append((kwargs, self.calls))

        def receive(self, direction, data, ts_ns, frame):
            self.calls.append(("receive", direction, bytes(data), ts_ns, frame))
            return super().receive(direction, data, ts_ns, frame)

        # The pipeline's way in for a data event (receive, the events appended to its own list).
        def feed_client(self, data, pos, ts_ns, frame, out):
            self.calls.append(("receive", C2S, bytes(data[pos:]), ts_ns, frame))
            return super().feed_client(data, pos, ts_ns, frame, out)

        def feed_server(self, data, pos, ts_ns, frame, out):
            self.calls.append(("receive", S2C, bytes(data[pos:]), ts_ns, frame))
            return super().feed_server(data, pos, ts_ns, frame, out)

        def gap(self, direction, length, ts_ns, frame):
            self.calls.append(("gap", direction, length, ts_ns, frame))
            return super().gap(direction, length, ts_ns, frame)

        def close(self, ts_ns):
            self.calls.append(("close", ts_ns))
            return super().close(ts_ns)

    saved = pipeline_module.SmtpConversation
    pipeline_module.SmtpConversation = Recorder
    try:
        with open_capture(path) as reader:
            SmtpPipeline().feed_all(reader)
    finally:
        pipeline_module.SmtpConversation = saved
    return made


def replay(made, split_seed: int | None) -> list:
    """The events of every recorded conversation, each chunk cut in two at random when seeded."""
    rng = random.Random(split_seed)
    out = []
    for kwargs, calls in made:
        conv = SmtpConversation(**kwargs)
        events = []
        for call in calls:
            if call[0] == "receive":
                _, d, data, ts, frame = call
                pieces = [data] if split_seed is None else _two_pieces(data, rng)
                for piece in pieces:
                    events += conv.receive(d, piece, ts, frame)
            elif call[0] == "gap":
                events += conv.gap(*call[1:])
            else:
                events += conv.close(call[1])
        out.append((events, conv.state, conv.client_mode, conv.server_mode, conv.commands_sent))
    return out


@pytest.mark.parametrize("path", all_capture_params())
def test_smtp_native_corpus(path, monkeypatch):
    made = recorded_calls(path)
    for seed in (None, 7):
        py, nat = both(monkeypatch, lambda: replay(made, seed))
        assert len(nat) == len(py)
        for (a, *sa), (b, *sb) in zip(py, nat):
            assert b == a, _first_difference(a, b)
            assert sb == sa


def test_smtp_native_is_used(monkeypatch):
    """The C readers take the sample capture's usual lines and content (else the other tests prove
    nothing)."""
    monkeypatch.setenv(native.ENV_SWITCH, "1")
    command, reply, content = native.smtp_functions()
    got = {"command": 0, "reply": 0, "content": 0}

    def counting(fn, key):
        def call(*args):
            r = fn(*args)
            got[key] += r is not None
            return r
        return call

    monkeypatch.setattr(native, "smtp_functions", lambda: (counting(command, "command"), counting(reply, "reply"),
                                                           counting(content, "content")))
    root = Path(__file__).resolve().parent.parent.parent
    replay(recorded_calls(root / "captures" / "smtp-sample.pcap"), None)
    assert got["command"] > 10 and got["reply"] > 10 and got["content"] > 0


# --- transcripts ------------------------------------------------------------------------------------

HEAD = [(S, b"220 mx.example ESMTP\r\n"), (C, b"EHLO client.example\r\n"),
        (S, b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-DSN\r\n250-AUTH PLAIN LOGIN\r\n"
            b"250-STARTTLS\r\n250 CHUNKING\r\n")]

ODD_COMMANDS = [
    b"MAIL FROM:<a@x>\r\n", b"mail from:<a@x>\r\n", b"MAIL FROM: <a@x>\r\n", b"MAIL FROM:\t<a@x>  \r\n",
    b"MAIL FROM:<>\r\n", b"MAIL FROM:a@x\r\n", b"MAIL FROM:<a@x>x\r\n", b"MAIL FROM:<a@x\r\n",
    b"MAIL FROM:<\"a b>\"@x>\r\n", b"MAIL FROM:<@r1,@r2:a@x>\r\n", b"MAIL FROM:<@>\r\n", b"MAIL FROM<a@x>\r\n",
    b"MAIL FROM:<a@x> SIZE=100 BODY=8BITMIME\r\n", b"MAIL FROM:<a@x> size=100 body=7bit ret=hdrs\r\n",
    b"MAIL FROM:<a@x> SIZE=1x\r\n", b"MAIL FROM:<a@x> SIZE=\r\n", b"MAIL FROM:<a@x> SIZE\r\n",
    b"MAIL FROM:<a@x> SIZE=123456789012345678901\r\n", b"MAIL FROM:<a@x> BODY=9BIT\r\n",
    b"MAIL FROM:<a@x> SMTPUTF8\r\n", b"MAIL FROM:<a@x> SMTPUTF8=yes\r\n", b"MAIL FROM:<a@x> RET=FULL RET=HDRS\r\n",
    b"MAIL FROM:<a@x> ENVID=abc+2Bdef\r\n", b"MAIL FROM:<a@x> ENVID=QQ AUTH=<>\r\n",
    b"MAIL FROM:<a@x> AUTH=a\\x{41}\r\n", b"MAIL FROM:<a@x> X-FOO=a=b\r\n", b"MAIL FROM:<a@x> -X=1\r\n",
    b"MAIL FROM:<a@x> X_Y=1\r\n", b"MAIL FROM:<a@x> \x0bSIZE=1\r\n", b"MAIL FROM:<a@x> SIZE=1\x1c\r\n",
    b"MAIL FROM:<\xc3\xa9@x> SMTPUTF8\r\n", b"MAIL FROM:<\xff@x>\r\n", b"MAIL FROM:<a@x> X=\xc3\xa9\r\n",
    b"RCPT TO:<b@y>\r\n", b"RCPT TO:<b@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@y\r\n",
    b"RCPT TO:<b@y> NOTIFY=NEVER\r\n", b"RCPT TO:<b@y> NOTIFY=never,success\r\n", b"RCPT TO:<b@y> NOTIFY=\r\n",
    b"RCPT TO:<b@y> NOTIFY\r\n", b"RCPT TO:<b@y> NOTIFY=SUCCESS,\r\n", b"RCPT TO:<b@y> NOTIFY=DELAY,DELAY\r\n",
    b"RCPT TO:<b@y> ORCPT=rfc822;b+40y\r\n", b"RCPT TO:<Postmaster>\r\n", b"RCPT TO:b@y\r\n", b"RCPT\r\n",
    b"RCPT TO:<b@y>\n", b"RCPT TO:<b\r@y>\r\n", b"RCPT TO:<b\x00@y>\r\n", b"rcpt to:<b@y>\t\t\r\n",
    b"NOOP\r\n", b"noop  \r\n", b"  NOOP\r\n", b"\tNOOP x  y \r\n", b"\r\n", b"   \r\n", b"\n",
    b"XYZZY plugh\r\n", b"N\xc3\xb6OP\r\n", b"NO\x01OP\r\n", b"HELP\x7f\r\n", b"VRFY \xff\xfe\r\n",
    b"XCLIENT NAME=x ADDR=1.2.3.4\r\n", b"XFORWARD HELO=a+2Bb\r\n", b"EXPN list\r\n", b"RSET\r\n",
    b"NOOP " + b"x" * 505 + b"\r\n", b"NOOP " + b"x" * 506 + b"\r\n", b"NOOP " + b"x" * 5000 + b"\r\n",
    b"NOOP\r\r\n", b"NOOP\rx\r\n", b"NOOP x\x00\r\n",
    b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n", b"auth login\r\n", b"AUTH\r\n", b"AUTH PLAIN =\r\n", b"AUTH PLAIN *\r\n",
    b"AUTH PLAIN not base64!\r\n", b"AUTH TOO-LONG-MECHANISM-NAME-HERE x\r\n", b"AUTH PLAIN a b\r\n",
    b"AUTH PLAIN " + b"QUFB" * 200 + b"\r\n", b"AUTH PLAIN\rAAAA\r\n", b"BDAT 4\r\n", b"BDAT 0 LAST\r\n",
    b"bdat 3 last\r\n", b"BDAT x\r\n", b"BDAT 99999999999999999999\r\n", b"BDAT 2 LAST extra\r\n",
]


@pytest.mark.parametrize("line", ODD_COMMANDS, ids=lambda b: repr(b[:40]))
def test_smtp_native_odd_command(line, monkeypatch):
    items = HEAD + [(C, line + b"NOOP\r\n"), (S, b"250 ok\r\n250 ok\r\n"), (C, b"QUIT\r\n"), (S, b"221 bye\r\n")]
    decode_both(monkeypatch, items)
    decode(items)  # whole, byte by byte and chunked agree with C on
    for limits in SMALL_LIMITS:
        decode_both(monkeypatch, items, limits=limits)


ODD_REPLIES = [
    b"250 ok\r\n", b"250\r\n", b"250 \r\n", b"250-a\r\n250 b\r\n", b"250-a\r\n250\r\n", b"250-a\r\n251 b\r\n",
    b"250-a\r\n250-b\r\n", b"250 2.1.0 ok\r\n", b"250 5.1.0 ok\r\n", b"550 5.1.1 no\r\n", b"550 5.1.1\r\n",
    b"550 5.1.1\tno\r\n", b"550 5.1.1x\r\n", b"550 5.1234.1 no\r\n", b"550 5.123.1234 no\r\n", b"550 5..1 no\r\n",
    b"550 3.1.1 no\r\n", b"550  5.1.1 no\r\n", b"550-5.1.1 first\r\n550 4.0.0 second\r\n", b"250 ok\n",
    b"250 o\rk\r\n", b"250 o\x00k\r\n", b"250 \xc3\xa9t\xe9\r\n", b"250x\r\n", b"25\r\n", b"2500 x\r\n",
    b"199 low\r\n", b"560 high\r\n", b"600 bad\r\n", b"abc\r\n", b"250 ok", b"250-a\r\n250", b"\r\n",
    b"250 " + b"x" * 506 + b"\r\n", b"250 " + b"x" * 507 + b"\r\n", b"250-" + b"y" * 600 + b"\r\n250 z\r\n",
    b"".join(b"250-line %d\r\n" % i for i in range(1100)) + b"250 end\r\n",
    b"354 go\r\n", b"334 VXNlcm5hbWU6\r\n", b"421 4.3.2 shutting down\r\n", b"220 ready\r\n",
    b"554 5.7.1 no service\r\n", b"220-mx\r\n220 ready\r\n", b"220 5.0.0 ready\r\n", b"221 bye\r\n",
]


@pytest.mark.parametrize("reply", ODD_REPLIES, ids=lambda b: repr(b[:40]))
def test_smtp_native_odd_reply(reply, monkeypatch):
    for items in (
        HEAD + [(C, b"MAIL FROM:<a@x>\r\n"), (S, reply), (C, b"QUIT\r\n"), (S, b"221 bye\r\n")],
        [(S, reply), (C, b"EHLO c\r\n"), (S, reply + b"250 ok\r\n")],  # as greeting, then unexpected
        HEAD + [(C, b"AUTH LOGIN\r\n"), (S, reply), (C, b"dXNlcg==\r\n"), (S, reply)],
        HEAD + [(C, b"STARTTLS\r\n"), (S, reply), (C, b"\x16\x03\x01\x00\x05hello")],
    ):
        decode_both(monkeypatch, items)


SESSIONS = {
    "pipelined": HEAD + [
        (C, b"MAIL FROM:<a@x> SIZE=10\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y> NOTIFY=NEVER\r\nDATA\r\n"),
        (S, b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n354 go\r\n"),
        (C, b"Subject: x\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n"), (S, b"250 2.0.0 queued\r\n221 2.0.0 bye\r\n")],
    "bdat": HEAD + [
        (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 5\r\nhelloBDAT 0 LAST\r\n"),
        (S, b"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"), (C, b"QUIT\r\n"), (S, b"221 bye\r\n")],
    "auth": HEAD + [
        (C, b"AUTH LOGIN\r\n"), (S, b"334 VXNlcm5hbWU6\r\n"), (C, b"dXNlcg==\r\n"), (S, b"334 UGFzc3dvcmQ6\r\n"),
        (C, b"cGFzcw==\r\n"), (S, b"235 2.7.0 ok\r\n"), (C, b"AUTH PLAIN AHVzZXIAcGFzcw==\r\nNOOP\r\n"),
        (S, b"503 5.5.1 already\r\n250 ok\r\n")],
    "starttls": HEAD + [(C, b"STARTTLS\r\n"), (S, b"220 2.0.0 go\r\n"), (C, b"EHLO again\r\n"),
                        (S, b"\x16\x03\x03\x00\x02xx")],
    "refused data": HEAD + [(C, b"MAIL FROM:<a@x>\r\nDATA\r\nNOOP\r\n"), (S, b"250 ok\r\n554 no\r\n250 ok\r\n")],
    "early talker": [(C, b"EHLO c\r\n"), (S, b"220 hi\r\n250 ok\r\n")],
    "no pipelining": [(S, b"220 hi\r\n"), (C, b"HELO c\r\nMAIL FROM:<a@x>\r\n"), (S, b"250 ok\r\n250 ok\r\n")],
    "gaps": HEAD + [(C, b"MAIL FROM:<a@x>\r\n"), ("gap", S, 10), (S, b"x\r\n250 ok\r\n"), (C, b"RCPT TO:<b@y>\r\n"),
                    ("gap", C, 5), (C, b"O:<c@y>\r\nRCPT TO:<d@y>\r\n"), (S, b"250 ok\r\n250 ok\r\n")],
}


@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_smtp_native_sessions(name, monkeypatch):
    items = SESSIONS[name]
    rng = random.Random(name)
    decode_both(monkeypatch, items)
    decode_both(monkeypatch, items, lambda data, r: _two_pieces(data, rng))
    decode(items)


SMALL_LIMITS = [
    Limits(max_command_line=20, max_reply_line=12, max_reply_lines=2, max_buffered_line=30),
    Limits(max_command_line=5000, max_reply_line=5000, max_reply_lines=1, max_buffered_line=16),
    Limits(max_reply_lines=0),
    Limits(max_auth_line=12, max_command_line=40),
]


# --- fuzzing -------------------------------------------------------------------------------------------

_COMMAND_PIECES = [b"MAIL", b"mail", b"RCPT", b"FROM:", b"TO:", b"from:", b"<", b">", b"a@x", b"\"q\"", b"@r:",
                   b" ", b"  ", b"\t", b"SIZE=1", b"BODY=8BITMIME", b"NOTIFY=SUCCESS,DELAY", b"NOTIFY=NEVER",
                   b"ORCPT=rfc822;a+40b", b"ENVID=x", b"AUTH=<>", b"RET=FULL", b"SMTPUTF8", b"=", b",", b"\xc3\xa9",
                   b"\xff", b"\x00", b"\r", b"\n", b"\r\n", b"NOOP", b"DATA", b"BDAT 3", b"AUTH", b"STARTTLS",
                   b"XCLIENT", b"EHLO", b"\x0b", b"+", b"\\", b"x" * 300]
_REPLY_PIECES = [b"250", b"354", b"334", b"220", b"550", b"199", b"25", b"-", b" ", b"\t", b"2.1.0", b"5.7.1",
                 b"4.1234.5", b"ok", b"\xc3\xa9", b"\xff", b"\x00", b"\r", b"\n", b"\r\n", b"PIPELINING",
                 b"y" * 300]


def _fuzz_stream(rng: random.Random, pieces: list[bytes], lines: int) -> bytes:
    out = []
    for _ in range(lines):
        out += rng.choices(pieces, k=rng.randint(1, 8))
        out.append(b"\r\n" if rng.random() < 0.85 else rng.choice((b"\n", b"\r", b"")))
    return b"".join(out)


@pytest.mark.parametrize("seed", range(40))
def test_smtp_native_fuzz(seed, monkeypatch):
    rng = random.Random(seed)
    items = list(HEAD) if seed % 3 else []
    for _ in range(rng.randint(2, 6)):
        items.append((C, _fuzz_stream(rng, _COMMAND_PIECES, rng.randint(1, 6))))
        items.append((S, _fuzz_stream(rng, _REPLY_PIECES, rng.randint(1, 6))))
    limits = SMALL_LIMITS[seed % 5] if seed % 5 < 4 else Limits()
    kwargs = {"limits": limits, "midstream": seed % 5 == 0}
    decode_both(monkeypatch, items, **kwargs)
    decode_both(monkeypatch, items, lambda data, r: _two_pieces(data, rng), **kwargs)


@pytest.mark.parametrize("limits", SMALL_LIMITS, ids=("tiny", "one-line", "no-lines", "short-auth"))
def test_smtp_native_small_limits(limits, monkeypatch):
    for items in SESSIONS.values():
        decode_both(monkeypatch, items, limits=limits)


# --- the C functions on hostile arguments ------------------------------------------------------------

@pytest.fixture
def c_functions(monkeypatch):
    monkeypatch.setenv(native.ENV_SWITCH, "1")
    fns = native.smtp_functions()
    if fns is None:
        pytest.skip("the C extension has no SMTP readers")
    return fns


def test_smtp_native_bounds(c_functions):
    command, reply = c_functions[:2]
    line = b"MAIL FROM:<a@x> SIZE=10\r\n"
    rep = b"250-a\r\n250 2.0.0 b\r\n"
    for data in (line, rep, line + rep, b"", b"\n", b"\r\n", b"250", b"250-"):
        for pos in (-(2 ** 62), -1, 0, 1, len(data) - 1, len(data), len(data) + 1, 2 ** 62):
            for room in (-1, 0, 1, 2, 26, 2 ** 62):
                command(data, pos, room, 512)
                command(data, pos, 512, room)
                reply(data, pos, room, 1000)
                reply(data, pos, 510, room)
    for cut in range(len(line) + 1):  # every prefix: no line until the LF is there
        assert (command(line[:cut], 0, 4096, 512) is not None) == (cut == len(line))
    for cut in range(len(rep) + 1):
        assert (reply(rep[:cut], 0, 510, 1000) is not None) == (cut == len(rep))
    assert command(line, 0, len(line) - 1, 512) is None  # LF beyond room
    assert command(line, 0, len(line), len(line) - 1) is None  # longer than max_line
    assert reply(rep, 0, 510, 1) is None  # two lines > max_lines
    with pytest.raises(TypeError):
        command("text", 0, 10, 10)
    with pytest.raises(TypeError):
        reply(bytearray(rep), 0, 10, 10)
    with pytest.raises(TypeError):
        reply(rep, 0, 10)
    with pytest.raises(OverflowError):
        command(line, 2 ** 80, 10, 10)


def test_smtp_native_pieces_match_events(c_functions, monkeypatch):
    """What the C readers return is what the Python decoder puts in its events."""
    command, reply = c_functions[:2]
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    for line in ODD_COMMANDS:
        parsed = command(line, 0, 65536, 512)
        if parsed is None:
            continue
        cmd = next(e for e in feed([(S, b"220 hi\r\n"), (C, line)], _whole)[0] if isinstance(e, Command))
        assert parsed == (len(line), cmd.raw, cmd.verb, cmd.argument, cmd.address, cmd.address_raw, cmd.params,
                          cmd.params_decoded)
    for rep in ODD_REPLIES:
        parsed = reply(rep, 0, 510, 1000)
        if parsed is None:
            continue
        r = next(e for e in feed([(S, rep)], _whole)[0] if isinstance(e, Reply))
        assert parsed[:6] == (len(rep), r.code, r.lines, r.text, r.raw, r.enhanced_code)


# --- message content ------------------------------------------------------------------------------------

PLAIN = b"".join(b"line %d of plain text\r\n" % i for i in range(30))
ODD_CONTENT = [
    b"", b".\r\n", b"..\r\n", b"..stuffed\r\n", b".x\r\n", b"bare LF\n", b"bare\rCR\r\n", b"NUL\x00\r\n",
    b"\xc3\xa9\xff 8-bit\r\n", b"x" * 998 + b"\r\n", b"x" * 999 + b"\r\n", b"x" * 5000 + b"\r\n", b"\r.\r\n",
    b"\n.\n", b".\n", b"\n.\r\n", b"a\r\n.\n", b"CR at end\r", b"\r\n", b"\r\n\r\n", b"\n", b"\r",
    b"." + b"y" * 998 + b"\r\n", b"." + b"y" * 999 + b"\r\n",
]


@pytest.mark.parametrize("odd", ODD_CONTENT, ids=lambda b: repr(b[:30]))
def test_smtp_native_data_content(odd, monkeypatch):
    head = HEAD + [(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"), (S, b"250 ok\r\n250 ok\r\n354 go\r\n")]
    tail = [(S, b"250 queued\r\n"), (C, b"QUIT\r\n"), (S, b"221 bye\r\n")]
    for content in (odd + PLAIN + b".\r\n", PLAIN + odd + PLAIN + b".\r\n", PLAIN + odd + b".\r\n",
                    PLAIN + odd + b"\r\n.\r\nQUIT\r\n", odd + b".\r\n"):
        items = head + [(C, content)] + tail
        decode_both(monkeypatch, items)
        decode_both(monkeypatch, items, _two_pieces)
        decode(items)
    # content limits and a small line buffer: the copy stops where they say
    for limits in (Limits(max_message_bytes=100), Limits(max_message_bytes=0), Limits(max_text_line=30),
                   Limits(max_buffered_line=20), Limits(max_recorded_offsets=0)):
        decode_both(monkeypatch, head + [(C, PLAIN + odd + PLAIN + b".\r\n")] + tail, limits=limits)


@pytest.mark.parametrize("odd", ODD_CONTENT, ids=lambda b: repr(b[:30]))
def test_smtp_native_bdat_content(odd, monkeypatch):
    chunk = PLAIN + odd + b".\r\n" + PLAIN
    items = HEAD + [(C, b"MAIL FROM:<a@x>\r\nBDAT %d LAST\r\n" % len(chunk) + chunk), (S, b"250 ok\r\n250 ok\r\n"),
                    (C, b"QUIT\r\n"), (S, b"221 bye\r\n")]
    decode_both(monkeypatch, items)
    decode_both(monkeypatch, items, _two_pieces)
    decode(items)
    decode_both(monkeypatch, items, limits=Limits(max_message_bytes=50, max_buffered_line=40))


def test_smtp_native_content_bounds(c_functions):
    content = c_functions[2]
    data = b"a\r\n..b\r\n.\r\nQUIT\r\n"
    for pos in (-(2 ** 62), -1, 0, 3, len(data), len(data) + 5, 2 ** 62):
        for longest in (-1, 0, 1, 3, 1000, 2 ** 62):
            for cap in (-5, 0, 1, 4, 10 ** 9):
                buf = bytearray(b"xy")
                end, size, ended = content(data, pos, longest, True, buf, cap)
                assert len(buf) == 2 + max(0, min(size, cap - 2))
    buf = bytearray()
    assert content(data, 0, 1000, True, buf, 100) == (11, 7, True) and buf == b"a\r\n.b\r\n"
    buf = bytearray()
    assert content(data, 0, 1000, False, buf, 100) == (len(data), len(data), False) and buf == data
    with pytest.raises(TypeError):
        content(data, 0, 10, True, b"not a bytearray", 10)
    view = memoryview(buf)  # an exported buffer cannot be resized: an error, not a crash
    with pytest.raises(BufferError):
        content(data, 0, 1000, True, buf, 1000)
    view.release()


def test_smtp_native_references(c_functions):
    """No reference to the inputs or to the shared verb and code is kept or lost; the other results
    are fresh objects held once."""
    command, reply, content = c_functions
    line = b"MAIL FROM:<a@x> SIZE=10 ENVID=q\r\n" + bytes(range(3))  # not interned, not shared
    rep = b"250-2.0.0 a\r\n250 b\r\n" + bytes(range(3))
    text = b"a\r\n..b\r\n.\r\n" + bytes(range(3))
    buf = bytearray()
    verb, code = g.SHARED_TEXT["MAIL"], g.SHARED_TEXT["2.0.0"]
    before = [sys.getrefcount(x) for x in (line, rep, text, buf, verb, code)]
    verb_refs, code_refs = sys.getrefcount(verb), sys.getrefcount(code)
    for _ in range(1000):
        parsed = command(line, 0, 4096, 512)
        assert sys.getrefcount(parsed) == 2  # each fresh piece is held by the tuple alone
        assert [sys.getrefcount(parsed[i]) for i in (1, 3, 4, 5, 6, 7)] == [2] * 6
        refs = sys.getrefcount(verb)  # the shared verb, held once more by the tuple
        assert parsed[2] is verb and refs == verb_refs + 1
        parsed = reply(rep, 0, 510, 100)
        assert sys.getrefcount(parsed) == 2
        assert [sys.getrefcount(parsed[i]) for i in (2, 3, 4)] == [2] * 3
        refs = sys.getrefcount(code)
        assert parsed[5] is code and refs == code_refs + 1
        command(b"MAIL FROM:<a@x> SIZE=1 SIZE=2\r\n", 0, 4096, 512)  # refused after a parameter was kept
        content(text, 0, 1000, True, buf, 5)
        del buf[:]
    del parsed
    assert [sys.getrefcount(x) for x in (line, rep, text, buf, verb, code)] == before


def test_smtp_native_whole_chunk_shares_its_bytes(c_functions):
    """A command line or reply that fills its whole chunk (the usual one) is the chunk: its ``raw``
    is the chunk's bytes object itself, held once more per result and let go with it; a part of a
    chunk, or a bytes subclass, is copied.  Either way ``raw`` equals the octets."""
    command, reply = c_functions[:2]

    class Sub(bytes):
        pass

    line = b"RCPT TO:<b@y>\r\n" + bytes(range(0))  # a new object, not a constant
    rep = b"250-2.1.5 a\r\n250 b\r\n"[:]
    for data, read, limits in ((line, command, (4096, 512)), (rep, reply, (510, 100))):
        before = sys.getrefcount(data)
        parsed = read(data, 0, *limits)
        raw = parsed[1] if read is command else parsed[4]
        assert raw is data and sys.getrefcount(data) == before + 2  # the result's reference and raw's
        del parsed, raw
        assert sys.getrefcount(data) == before
        longer = data + data
        parsed = read(longer, 0, *limits)
        raw = parsed[1] if read is command else parsed[4]
        assert raw == data and raw is not longer and type(raw) is bytes
        parsed = read(Sub(data), 0, *limits)
        raw = parsed[1] if read is command else parsed[4]
        assert raw == data and type(raw) is bytes
