"""``smtpsniff show``: the follow view says what the clients' sidecars say was sent and read, in
order per side; capture text never reaches the terminal as control sequences; secrets stay masked
unless asked; the ladders (text, Mermaid, picture) have one step per turn."""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys

from dataclasses import dataclass

import pytest

from views_common import FEATURES, INJECTION, ROOT, SAMPLE, read
from smtpsniff.analysis.conversation import Side, conversation
from smtpsniff.cli import main
from smtpsniff.output.ladder import mermaid, text_ladder

_CODE = re.compile(r"^\d{3}([ -]|$)")


def show_process(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``smtpsniff show`` in its own process: the bytes a terminal would get."""
    return subprocess.run([sys.executable, "-m", "smtpsniff", "show", *map(str, args)], capture_output=True,
                          timeout=120, env={**os.environ, "COLUMNS": "250", **(env or {})})


@dataclass
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes


@pytest.fixture
def show(capsys):
    """``smtpsniff show`` in this process (no interpreter start-up per call)."""
    def run(*args) -> Result:
        code = main(["show", *map(str, args)])
        out, err = capsys.readouterr()
        return Result(code, out.encode(), err.encode())
    return run


def _side_lines(stdout: str) -> dict[str, list[str]]:
    out = {"C": [], "S": []}
    for line in stdout.splitlines():
        m = re.match(r"^[ ▶]([CS]): (.*)$", line)
        if m:
            out[m.group(1)].append(m.group(2))
    return out


def _expected(session: dict) -> dict[str, list[str]]:
    """Per side, the lines the sidecar says crossed the wire in clear text (secrets masked)."""
    client, server = [], []

    def replies(code, lines):
        for i, text in enumerate(lines):
            if not _CODE.match(text):
                text = f"{code}{'-' if i < len(lines) - 1 else ' '}{text}".rstrip()
            server.append(text)

    replies(session["greeting"]["code"], session["greeting"]["lines"])
    for c in session["commands"]:
        if c.get("encrypted"):
            continue
        if c["kind"] == "command":
            line = c["line"]
            if c.get("verb") == "AUTH" and len(line.split()) > 2:
                line = " ".join(line.split()[:2] + ["********"])
            client.append(line)
        elif c["kind"] == "auth-response":
            client.append("********")
        replies(c["reply_code"], c["reply_text"])
    return {"C": client, "S": server}


def _is_subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(n == h for h in it) for n in needles)


def _sessions(path):
    truth = json.loads(path.with_suffix(".json").read_text())
    cap = read(path)
    by_port = {int(s.client_port): int(s.session_id) for s in cap.sessions.itertuples()}
    return [(by_port[s["client_addr"][1]], s) for s in truth["sessions"]]


@pytest.mark.parametrize("path", [SAMPLE, FEATURES], ids=lambda p: p.name)
def test_follow_shows_what_each_side_sent_in_order(show, path):
    for session_id, truth in _sessions(path):
        if truth["tls"] == "implicit":
            continue
        out = show(path, "--session", session_id)
        assert out.returncode == 0, out.stderr
        got = _side_lines(out.stdout.decode())
        want = _expected(truth)
        # Server lines exactly; client lines as a subsequence (message headers come in between).
        assert got["S"] == want["S"], session_id
        assert _is_subsequence(want["C"], got["C"]), (session_id, want["C"], got["C"])
        commands = [c for c in truth["commands"] if c["kind"] in ("command", "auth-response")
                    and not c.get("encrypted")]
        data_headers = sum(1 for line in got["C"] if line not in want["C"])
        assert len(got["C"]) == len(commands) + data_headers


def test_follow_folds_bodies_unless_asked(show):
    truth = json.loads(SAMPLE.with_suffix(".json").read_text())["sessions"][0]
    body_line = "please find attached the weekly sales figures and the chart."
    folded = show(SAMPLE, "--session", 0).stdout.decode()
    assert body_line not in folded and "[body folded:" in folded
    assert "Subject: Weekly sales report (week 22)" in folded
    full = show(SAMPLE, "--session", 0, "--bodies").stdout.decode()
    assert body_line in full
    import base64
    sent = base64.b64decode(truth["messages"][0]["data_b64"]).decode()
    got = "\n".join(_side_lines(full)["C"])
    assert "\n".join(sent.rstrip("\r\n").split("\r\n")) in got  # the whole message, line by line


def test_follow_masks_auth_unless_asked(show):
    plain, login = "AGNhcm9sAGNAcm9sLTIwMjQ=", "Y2Fyb2wyMDI0"
    masked = show(SAMPLE, "--session", 4).stdout.decode() + show(SAMPLE, "--session", 3).stdout.decode()
    assert plain not in masked and login not in masked and "c@rol-2024" not in masked
    assert "AUTH PLAIN ********" in masked
    shown = (show(SAMPLE, "--session", 4, "--show-secrets").stdout.decode()
             + show(SAMPLE, "--session", 3, "--show-secrets").stdout.decode())
    assert plain in shown and login in shown


def test_follow_summarises_tls(show):
    out = show(SAMPLE, "--session", 5).stdout.decode()
    lines = out.splitlines()
    tls = [i for i, line in enumerate(lines) if "TLS after STARTTLS" in line]
    assert len(tls) == 1 and "TLS 1.3" in lines[tls[0]] and "SNI mail.example.test" in lines[tls[0]]
    assert lines[tls[0] - 1].strip() == "S: 220 Ready to start TLS"
    s = read(SAMPLE).sessions.set_index("session_id").loc[5]
    assert f"{s.tls_bytes_c2s} bytes client to server" in lines[tls[0]]


@pytest.mark.parametrize("color", [False, True])
def test_capture_control_sequences_never_reach_the_terminal(show, monkeypatch, color):
    env = {"FORCE_COLOR": "1", "TERM": "xterm-256color"} if color else {"NO_COLOR": "1", "TERM": "dumb"}
    for name in ("FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for args in (["--session", 1], ["--session", 1, "--ladder"], ["--session", 1, "--mermaid"], []):
        out = show(INJECTION, *args)
        assert out.returncode == 0, out.stderr
        raw = out.stdout
        assert b"\x1b]" not in raw and b"\x07" not in raw and b"\x1b[2J" not in raw, args
        if not color:
            assert b"\x1b" not in raw, args
        text = raw.decode()
        if args and "--mermaid" not in args:
            assert "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mterm.evil.test" in text
    if color:
        out = show(INJECTION, "--session", 1).stdout
        assert b"\x1b[31mHELO " in out  # client red...
        assert b"\x1b[34m220 " in out  # ...server blue


def test_show_runs_as_a_program():
    out = show_process(INJECTION, "--session", 1, env={"NO_COLOR": "1"})
    assert out.returncode == 0 and b"\x1b" not in out.stdout and b"S: 221 Bye" in out.stdout


def test_listing_sessions_and_bad_session_numbers(show):
    out = show(SAMPLE)
    assert out.returncode == 0
    text = out.stdout.decode()
    for s in read(SAMPLE).sessions.itertuples():
        assert f"{s.client_ip}:{s.client_port}" in text
    out = show(SAMPLE, "--session", 99)
    assert out.returncode == 2 and out.stderr.decode().count("\n") == 1 and "no session 99" in out.stderr.decode()
    out = show(SAMPLE, "--filter", "smtp.response.code == 535")
    assert "60353" in out.stdout.decode() and "50580" not in out.stdout.decode()


def test_filter_marks_the_matching_lines(show):
    out = show(SAMPLE, "--session", 6, "--filter", "smtp.response.code == 550").stdout.decode()
    marked = [line for line in out.splitlines() if line.startswith("▶")]
    assert len(marked) == 3 and all(line.startswith("▶S: 550 ") for line in marked)


@pytest.mark.parametrize("path", [SAMPLE, FEATURES, INJECTION], ids=lambda p: p.name)
def test_text_ladder_has_one_arrow_per_turn_in_the_right_direction(path):
    cap = read(path)
    for records in cap.records:
        conv = conversation(records)
        rows = text_ladder(conv)[1:]
        assert len(rows) == len(conv.turns)
        for row, turn in zip(rows, conv.turns):
            if turn.side is Side.CLIENT:
                assert row.endswith("->|")
            elif turn.side is Side.SERVER:
                assert "|<-" in row
            else:
                assert row.endswith("|") and ("===" in row or "!!!" in row)
        assert all("\x1b" not in r for r in rows)
    truth = _sessions(path)
    for session_id, t in truth:
        if t["tls"] != "none":
            continue
        conv = conversation(next(r for r in cap.records if r.session.session_id == session_id))
        server = [turn for turn in conv.turns if turn.side is Side.SERVER]
        assert len(server) == 1 + sum(1 for c in t["commands"] if c.get("reply_code") is not None)


def _mermaid_decode(text: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text)


@pytest.mark.parametrize("path", [SAMPLE, INJECTION], ids=lambda p: p.name)
def test_mermaid_escapes_its_special_characters(path):
    cap = read(path)
    for records in cap.records:
        conv = conversation(records)
        lines = mermaid(conv).splitlines()
        assert lines[0] == "sequenceDiagram"
        steps = lines[3:]
        assert len(steps) == len(conv.turns)
        for line, turn in zip(steps, conv.turns):
            m = re.match(r"^    (C->>S|S->>C|Note over C,S): (.*)$", line)
            assert m, line
            arrow, text = m.groups()
            assert arrow == {Side.CLIENT: "C->>S", Side.SERVER: "S->>C", Side.BOTH: "Note over C,S"}[turn.side]
            bare = re.sub(r"#\d+;", "", text)  # Mermaid entities
            assert not re.search(r"[<>;#\"'`{}\[\]|\\%:]", bare), text
            decoded = _mermaid_decode(text)
            assert decoded.rstrip("…") in turn.label.encode("unicode_escape").decode() or \
                decoded.rstrip("…") in re.sub(r"[\x00-\x1f\x7f]", lambda c: f"\\x{ord(c.group()):02x}", turn.label)


def test_ladder_image_png_and_svg(show, tmp_path):
    for suffix in (".png", ".svg"):
        target = tmp_path / f"ladder{suffix}"
        out = show(INJECTION, "--session", 0, "--ladder", "--ladder-image", target)
        assert out.returncode == 0, out.stderr
        data = target.read_bytes()
        assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data
    out = show(SAMPLE, "--session", 0, "--ladder-image", tmp_path / "x.gif")
    assert out.returncode == 2
    ax = read(SAMPLE).plot.ladder(0)
    labels = [t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("turn-")]
    conv = conversation(read(SAMPLE).records[0])
    assert len(labels) == len(conv.turns)
    assert labels[0] == "220 mail.example.test ESMTP" and labels[1] == "ehlo mx.partner.test"
    assert html.unescape(labels[-1]) == "221 Bye"


def test_every_own_capture_follows_and_ladders():
    """Every session of every capture in captures/ and tests/data becomes lines, a text ladder and
    Mermaid without an error, and nothing a terminal would act on."""
    from rich.console import Console

    from corpus import own_captures
    from smtpsniff.output.follow import follow_lines, print_lines

    for path in own_captures():
        cap = read(path)
        for records in cap.records:
            conv = conversation(records)
            buffer = __import__("io").StringIO()
            print_lines(Console(file=buffer, force_terminal=True, color_system="truecolor"),
                        follow_lines(conv, bodies=True))
            lines = text_ladder(conv) + mermaid(conv).splitlines()
            for text in (buffer.getvalue().replace("\x1b[", ""), *lines):
                assert "\x07" not in text and "\x1b" not in text, (path, records.session.session_id)


SHARED_FLOOD = ROOT.parent / "shared/captures/zeek/smtp_mime-header-size-limit/mime-header-size-limit.pcap"


@pytest.mark.skipif(not SHARED_FLOOD.exists(), reason="../shared/captures is not here")
def test_a_header_flood_is_folded(show):
    out = show(SHARED_FLOOD, "--session", 0).stdout.decode()
    assert len(out.splitlines()) < 300
    assert re.search(r"\[\d+ more header lines folded \(\d+ bytes\); --bodies shows them\]", out)
