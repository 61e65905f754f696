"""Unit tests of the pieces: state table, grammar, line splitter, capabilities, content assembler."""
from __future__ import annotations

from enum import Enum

import pytest
from smtp_transcript import C, S, decode

from smtpsniff.limits import Limits
from smtpsniff.smtp import grammar as g
from smtpsniff.smtp.capabilities import parse_ehlo_lines
from smtpsniff.smtp.content import MessageAssembler
from smtpsniff.smtp.lines import LineSplitter
from smtpsniff.smtp.states import (
    NO_MOVES,
    REPLY_MOVES_BY_STAGE,
    REPLY_MOVES_BY_VERB,
    TRANSITIONS,
    ClientMode,
    ServerMode,
    SmtpState,
    Trigger,
    advance,
    reply_trigger,
)


# ------------------------------------------------------------------ states ----------------------
def test_table_moves_stay_within_their_machine():
    for (state, trigger), to in TRANSITIONS.items():
        assert type(state) is type(to), (state, trigger, to)
        assert isinstance(trigger, Trigger)


@pytest.mark.parametrize("machine", [SmtpState, ClientMode, ServerMode])
def test_every_state_closes(machine: type[Enum]):
    for s in machine:
        assert advance(s, Trigger.CLOSE).name == "CLOSED"


def test_modes_never_equal_across_machines():
    assert ClientMode.GAP != ServerMode.GAP
    assert advance(ClientMode.GAP, Trigger.RESYNC) is ClientMode.COMMAND
    assert advance(ServerMode.GAP, Trigger.RESYNC) is ServerMode.REPLY


def test_unknown_move_keeps_state():
    assert advance(ClientMode.TLS, Trigger.SENT_DATA) is ClientMode.TLS
    assert advance(SmtpState.IN_TLS, Trigger.MAIL_OK) is SmtpState.IN_TLS


def test_reply_moves_are_reply_trigger():
    """The decoder's look-up tables give what reply_trigger says, for every verb, stage and code."""
    verbs = [*REPLY_MOVES_BY_VERB, "DATA", "BDAT", "NOOP", "VRFY", "XYZZY", "<greeting>", "ehlo", ""]
    for code in range(1000):
        for verb in verbs:
            for stage in ("start", "end", None):
                moves = REPLY_MOVES_BY_STAGE[stage] if stage else REPLY_MOVES_BY_VERB.get(verb, NO_MOVES)
                assert moves[0].get(code, moves[1]) is reply_trigger(verb, stage, code), (verb, stage, code)


def test_reply_trigger():
    assert reply_trigger("DATA", "start", 354) is Trigger.DATA_GO
    assert reply_trigger("DATA", "start", 554) is Trigger.DATA_REFUSED
    assert reply_trigger("RCPT", None, 251) is Trigger.RCPT_OK
    assert reply_trigger("RCPT", None, 550) is None
    assert reply_trigger("STARTTLS", None, 454) is Trigger.TLS_REFUSED


# ------------------------------------------------------------------ grammar ---------------------
def test_params_and_xtext():
    params, problems = g.parse_params("SIZE=1000 BODY=8bitmime SMTPUTF8 ENVID=QQ+2B1 RET=HDRS AUTH=<>")
    assert params == {"SIZE": "1000", "BODY": "8bitmime", "SMTPUTF8": None, "ENVID": "QQ+2B1", "RET": "HDRS",
                      "AUTH": "<>"}
    assert problems == []
    assert g.xtext_values(params) == {"ENVID": "QQ+1", "AUTH": "<>"}
    _, problems = g.parse_params("SIZE=big NOTIFY=SOMETIMES BODY=9BIT SIZE=1 =x")
    assert [p.kind for p in problems] == ["invalid_esmtp_param"] * 3 + ["duplicate_esmtp_param", "invalid_esmtp_param"]
    assert g.decode_xtext(r"a+2Bb\x{E9}") == "a+bé"


@pytest.mark.parametrize("arg,path,address", [
    ("FROM:<a@b>", "<a@b>", "a@b"),
    ("FROM:<>", "<>", ""),
    ("from: <a@b>", "<a@b>", "a@b"),
    ("FROM:<@relay.example,@r2:user@d>", "<@relay.example,@r2:user@d>", "user@d"),
    ('FROM:<"john >doe"@x>', '<"john >doe"@x>', '"john >doe"@x'),
    ("FROM:a@b", "a@b", "a@b"),
])
def test_mail_paths(arg, path, address):
    m = g.MAIL_ARGUMENT.match(arg)
    assert m.group("path") == path
    assert g.strip_path(path)[0] == address


def test_reply_and_enhanced_code_patterns():
    assert g.REPLY_LINE.match("250-PIPELINING").group("sep") == "-"
    assert g.REPLY_LINE.match("250").group("sep") is None
    assert g.REPLY_LINE.match("25O ok") is None
    assert g.ENHANCED_CODE.match("5.1.1 unknown").group("code") == "5.1.1"
    assert g.ENHANCED_CODE.match("5.1.1234 x") is None and g.ENHANCED_CODE.match("3.1.1 x") is None
    assert g.BDAT_ARGUMENT.match("100 last").group("last") and g.BDAT_ARGUMENT.match("-1") is None
    assert g.AUTH_ARGUMENT.match("SCRAM-SHA-256 biwsbj11c2Vy").group("mech") == "SCRAM-SHA-256"
    assert g.decode_base64("=") == b"" and g.decode_base64("a===") is None


def test_wire_text_round_trips_any_bytes():
    raw = b"caf\xe9 \xc3\xa9 \xff"
    assert g.wire_bytes(g.wire_text(raw)) == raw


# ------------------------------------------------------------------ lines -----------------------
def test_splitter_cut_and_skip():
    sp = LineSplitter(8)
    line, pos = sp.take(b"0123456789\r\nok\r\n", 0, 1, 1)
    assert line.raw == b"01234567" and line.cut and line.ending == b""
    line, pos = sp.take(b"0123456789\r\nok\r\n", pos, 1, 1)
    assert line.raw == b"ok\r\n" and sp.take_skipped() == 4


def test_splitter_split_mode_keeps_crlf_together():
    sp = LineSplitter(4, split=True)
    pieces = []
    data, pos = b"abc\r\nx", 0
    while True:
        line, pos = sp.take(data, pos, 1, 1)
        if line is None:
            break
        pieces.append((line.raw, line.continued))
    assert pieces == [(b"abc", False), (b"\r\n", True)]
    assert sp.flush().raw == b"x"


# ------------------------------------------------------------------ capabilities ----------------
def test_capabilities_parse():
    caps = parse_ehlo_lines(("mx.example Hello there", "SIZE", "AUTH=LOGIN", "AUTH PLAIN LOGIN", "bad_line", "X-FOO=1"))
    assert caps.domain == "mx.example" and caps.greeting == "Hello there"
    assert caps.size is None and caps.params("SIZE") == ()
    assert caps.auth_mechanisms == ("LOGIN", "PLAIN")
    assert caps.invalid_lines == ("bad_line", "X-FOO=1")


# ------------------------------------------------------------------ content ---------------------
def test_assembler_direct():
    m = MessageAssembler(via="DATA", command_index=0, limits=Limits(), dot_stuffed=True)
    pos, ended = m.feed_data(b"..x\r\n.\r\nNEXT", 0, 1, 7)
    assert ended and pos == len(b"..x\r\n.\r\n")
    msg = m.finish(complete=True, ts_ns=1, frame=7)
    assert msg.content == b".x\r\n" and msg.end_marker == b"\r\n.\r\n" and msg.frame == 7


# ------------------------------------------------------------------ limits in sessions ----------
def test_too_many_recipients():
    rcpts = b"".join(b"RCPT TO:<u%d@x>\r\n" % i for i in range(4))
    ev = decode([(S, b"220 mx\r\n"), (C, b"EHLO c\r\n"), (S, b"250-mx\r\n250 PIPELINING\r\n"),
                 (C, b"MAIL FROM:<a@x>\r\n" + rcpts), (S, b"250 ok\r\n" * 5)], limits=Limits(max_recipients=3))
    assert ev.kinds() == ["too_many_recipients"]


def test_reply_line_count_limit():
    reply = b"".join(b"250-line%d\r\n" % i for i in range(10)) + b"250 end\r\n"
    ev = decode([(S, b"220 mx\r\n"), (C, b"EHLO c\r\n"), (S, reply)], limits=Limits(max_reply_lines=4))
    assert "reply_too_many_lines" in ev.kinds()
    from smtpsniff.smtp.events import Reply

    assert len(ev.of(Reply)[1].lines) == 4 and ev.of(Reply)[1].raw == reply
