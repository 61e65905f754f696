"""Command/reply sessions: greeting, EHLO capabilities, pipelining, transactions, rejections."""
from __future__ import annotations

from smtp_transcript import C, S, decode

from smtpsniff.smtp.events import Capabilities, Command, Reply, ReplyStage
from smtpsniff.smtp.states import ClientMode, SmtpState

POSTFIX_EHLO = (
    b"250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
    b"250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n"
    b"250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
)
EXCHANGE_EHLO = (
    b"250-EXCH01.corp.example.com Hello [10.0.0.5]\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n"
    b"250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-AUTH GSSAPI NTLM\r\n"
    b"250-X-EXPS GSSAPI NTLM\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250-XEXCH50\r\n"
    b"250-XRDST\r\n250 XSHADOWREQUEST\r\n"
)


def basic() -> list:
    return [
        (S, b"220 mail.example.org ESMTP Postfix\r\n"),
        (C, b"EHLO client.example.net\r\n"),
        (S, POSTFIX_EHLO),
        (C, b"MAIL FROM:<alice@example.net>\r\n"),
        (S, b"250 2.1.0 Ok\r\n"),
        (C, b"RCPT TO:<bob@example.org>\r\n"),
        (S, b"250 2.1.5 Ok\r\n"),
        (C, b"DATA\r\n"),
        (S, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        (C, b"Subject: test\r\n\r\nHello\r\n.\r\n"),
        (S, b"250 2.0.0 Ok: queued as 4F2A1\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"221 2.0.0 Bye\r\n"),
    ]


def test_basic_session():
    ev = decode(basic())
    assert ev.kinds() == []
    cmds = ev.of(Command)
    assert [c.verb for c in cmds] == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert [c.index for c in cmds] == [0, 1, 2, 3, 4]
    assert not any(c.pipelined for c in cmds)
    assert cmds[1].address == "alice@example.net" and cmds[1].address_raw == "<alice@example.net>"
    replies = ev.of(Reply)
    assert [(r.code, r.verb, r.stage) for r in replies] == [
        (220, "<greeting>", ReplyStage.GREETING),
        (250, "EHLO", ReplyStage.COMMAND),
        (250, "MAIL", ReplyStage.COMMAND),
        (250, "RCPT", ReplyStage.COMMAND),
        (354, "DATA", ReplyStage.DATA_START),
        (250, "DATA", ReplyStage.DATA_END),
        (221, "QUIT", ReplyStage.COMMAND),
    ]
    assert replies[5].command_index == 3 and replies[5].enhanced_code == "2.0.0"
    assert replies[1].multiline and not replies[0].multiline
    assert ev.conv.state is SmtpState.CLOSED


def test_state_follows_replies():
    from smtpsniff.smtp.conversation import SmtpConversation

    c = SmtpConversation()
    states = []
    for d, data in basic():
        c.receive(d, data, 0, 1)
        states.append(c.state)
    assert states == [
        SmtpState.GREETED, SmtpState.GREETED, SmtpState.READY, SmtpState.READY, SmtpState.MAIL_OK,
        SmtpState.MAIL_OK, SmtpState.RCPT_OK, SmtpState.RCPT_OK, SmtpState.IN_DATA, SmtpState.AFTER_DATA,
        SmtpState.READY, SmtpState.READY, SmtpState.QUIT,
    ]


def test_postfix_capabilities():
    caps = decode(basic()).first(Capabilities)
    assert caps.domain == "mail.example.org"
    assert caps.pipelining and caps.starttls and caps.chunking and caps.eightbitmime
    assert caps.smtputf8 and caps.dsn and caps.enhancedstatuscodes and not caps.binarymime
    assert caps.size == 10240000 and caps.size_announced
    assert caps.auth_mechanisms == ("PLAIN", "LOGIN")
    assert ("ETRN", ()) in caps.items


def test_exchange_capabilities():
    ev = decode([(S, b"220 EXCH01.corp.example.com Microsoft ESMTP MAIL Service ready\r\n"),
                 (C, b"ehlo [10.0.0.5]\r\n"), (S, EXCHANGE_EHLO)])
    caps = ev.first(Capabilities)
    assert caps.domain == "EXCH01.corp.example.com" and caps.greeting == "Hello [10.0.0.5]"
    assert caps.auth_mechanisms == ("GSSAPI", "NTLM")
    assert caps.binarymime and caps.chunking and caps.size == 37748736
    assert ("XSHADOWREQUEST", ()) in caps.items and ("X-EXPS", ("GSSAPI", "NTLM")) in caps.items
    assert ev.first(Command).verb == "EHLO"  # verbs upper-cased (RFC 5321 2.4)


def test_pipelining_interleaved_replies():
    ev = decode([
        (S, b"220 mx ESMTP\r\n"), (C, b"EHLO c\r\n"), (S, POSTFIX_EHLO),
        (C, b"MAIL FROM:<a@x> SIZE=120 BODY=8BITMIME\r\nRCPT TO:<b@y>\r\n"),
        (S, b"250 2.1.0 Ok\r\n"),
        (C, b"RCPT TO:<c@y> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;c+2Bext@y\r\nDATA\r\n"),
        (S, b"250 2.1.5 Ok\r\n550 5.1.1 <c@y>: Recipient address rejected\r\n354 go\r\n"),
        (C, b"x\r\n.\r\nQUIT\r\n"), (S, b"250 2.0.0 Ok\r\n221 Bye\r\n"),
    ])
    assert ev.kinds() == []
    cmds = ev.of(Command)
    assert [(c.verb, c.pipelined) for c in cmds] == [
        ("EHLO", False), ("MAIL", False), ("RCPT", True), ("RCPT", True), ("DATA", True), ("QUIT", True)]
    assert cmds[1].params == {"SIZE": "120", "BODY": "8BITMIME"}
    assert cmds[3].params == {"NOTIFY": "SUCCESS,DELAY", "ORCPT": "rfc822;c+2Bext@y"}
    assert cmds[3].params_decoded == {"ORCPT": "rfc822;c+ext@y"}
    rep = [(r.code, r.command_index) for r in ev.of(Reply)]
    assert rep == [(220, None), (250, 0), (250, 1), (250, 2), (550, 3), (354, 4), (250, 4), (221, 5)]


def test_pipelining_not_offered():
    ev = decode([(S, b"220 mx\r\n"), (C, b"EHLO c\r\n"), (S, b"250-mx\r\n250 SIZE 1000\r\n"),
                 (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"), (S, b"250 ok\r\n250 ok\r\n")])
    assert ev.kinds() == ["pipelining_not_offered"]
    ev = decode([(S, b"220 mx\r\n"), (C, b"HELO c\r\n"), (S, b"250 mx\r\n"),
                 (C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"), (S, b"250 ok\r\n250 ok\r\n")])
    assert ev.kinds() == ["pipelining_not_offered"]


def test_transactions_rset_vrfy_expn_rejections():
    ev = decode([
        (S, b"220 mx\r\n"), (C, b"HELO c\r\n"), (S, b"250 mx\r\n"),
        (C, b"VRFY bob\r\n"), (S, b"252 2.0.0 bob\r\n"),
        (C, b"EXPN staff\r\n"), (S, b"250-Alice <a@x>\r\n250 Bob <b@x>\r\n"),
        (C, b"MAIL FROM:<>\r\n"), (S, b"250 ok\r\n"),
        (C, b"RCPT TO:<nobody@x>\r\n"), (S, b"550 5.1.1 <nobody@x>: User unknown\r\n"),
        (C, b"RCPT TO:<later@x>\r\n"), (S, b"451 4.3.0 Try again later\r\n"),
        (C, b"RSET\r\n"), (S, b"250 2.0.0 Ok\r\n"),
        (C, b"mail from:<a@x>\r\n"), (S, b"250 ok\r\n"),
        (C, b"rcpt to:<Postmaster>\r\n"), (S, b"250 ok\r\n"),
        (C, b"RSET\r\n"), (S, b"250 ok\r\n"),
        (C, b"NOOP\r\n"), (S, b"250 ok\r\n"), (C, b"HELP\r\n"), (S, b"214 see RFC 5321\r\n"),
    ])
    assert ev.kinds() == []
    cmds = ev.of(Command)
    assert cmds[3].address == "" and cmds[3].address_raw == "<>"
    assert cmds[7].verb == "MAIL" and cmds[8].address == "Postmaster"
    rep = {r.command_index: r for r in ev.of(Reply)}
    assert rep[2].lines == ("Alice <a@x>", "Bob <b@x>")
    assert rep[4].code == 550 and rep[4].enhanced_code == "5.1.1"
    assert rep[5].code == 451 and rep[5].enhanced_code == "4.3.0"
    assert ev.conv.state is SmtpState.CLOSED


def test_unknown_verbs_and_extension_commands():
    ev = decode([
        (S, b"220 mx\r\n"), (C, b"EHLO c\r\n"), (S, b"250 mx\r\n"),
        (C, b"XCLIENT NAME=spike.porcupine.org ADDR=168.100.189.2 LOGIN=a+2Bb\r\n"), (S, b"220 mx\r\n"),
        (C, b"ETRN example.org\r\n"), (S, b"250 Queuing started\r\n"),
        (C, b"FOOBAR baz\r\n"), (S, b"502 5.5.2 Error: command not recognized\r\n"),
    ])
    cmds = ev.of(Command)
    assert cmds[1].params["ADDR"] == "168.100.189.2" and cmds[1].params_decoded["LOGIN"] == "a+b"
    assert (cmds[2].verb, cmds[2].argument, cmds[2].known) == ("ETRN", "example.org", True)
    assert (cmds[3].verb, cmds[3].argument, cmds[3].known) == ("FOOBAR", "baz", False)
    assert ev.kinds() == ["unknown_command"]


def test_over_long_lines_nul_bare_lf_bare_cr():
    long_cmd = b"RCPT TO:<" + b"a" * 600 + b"@x>\r\n"
    long_reply = b"250 " + b"x" * 600 + b"\r\n"
    ev = decode([
        (S, b"220 mx\r\n"), (C, b"HELO c\n"), (S, b"250 mx\r\n"), (C, b"MAIL FROM:<a@x>\r\n"), (S, b"250 ok\r\n"),
        (C, long_cmd), (S, long_reply), (C, b"NOOP a\x00b\r\n"), (S, b"250 ok\r\n"),
        (C, b"NOOP a\rb\r\n"), (S, b"250 ok\r\n"),
    ])
    assert ev.kinds() == ["bare_lf_line_ending", "command_line_too_long", "reply_line_too_long",
                          "nul_byte", "bare_cr"]
    cmds = ev.of(Command)
    assert cmds[0].line_ending == b"\n" and cmds[0].verb == "HELO"
    assert cmds[2].address == "a" * 600 + "@x"
    assert cmds[3].argument == "a\x00b"


def test_line_buffer_limit_cuts_and_skips():
    from smtpsniff.limits import Limits

    limits = Limits(max_buffered_line=64)
    ev = decode([(S, b"220 mx\r\n"), (C, b"NOOP " + b"A" * 100 + b"\r\nRSET\r\nQUIT\r\n"),
                 (S, b"250 ok\r\n250 ok\r\n221 bye\r\n")], limits=limits)
    cmds = ev.of(Command)
    # the tail of the cut line never becomes a command of its own
    assert [c.verb for c in cmds] == ["NOOP", "RSET", "QUIT"]
    assert len(cmds[0].raw) == 64 and cmds[0].line_ending == b""
    assert "line_buffer_limit" in ev.kinds()


def test_multiline_code_mismatch_and_invalid_lines():
    ev = decode([(S, b"220 mx\r\n"), (C, b"EHLO c\r\n"),
                 (S, b"250-mx\r\n251-PIPELINING\r\ngarbage\r\n250 8BITMIME\r\n"),
                 (C, b"QUIT\r\n"), (S, b"221 5.0.0 bye\r\n")])
    assert ev.kinds() == ["reply_code_mismatch_in_multiline", "invalid_reply_line", "enhanced_code_class_mismatch"]
    r = ev.of(Reply)[1]
    assert r.code == 250 and r.lines == ("mx", "PIPELINING", "8BITMIME") and b"garbage" in r.raw


def test_unexpected_reply_and_unmatched_command():
    ev = decode([(S, b"220 mx\r\n"), (S, b"250 surprise\r\n"), (C, b"NOOP\r\n")])
    assert ev.kinds() == ["unexpected_reply", "unmatched_command"]
    assert ev.of(Reply)[1].stage is ReplyStage.UNEXPECTED and ev.of(Reply)[1].verb is None


def test_early_talker():
    ev = decode([(C, b"EHLO c\r\n"), (S, b"220 mx\r\n250 mx\r\n")])
    assert ev.kinds() == ["data_before_greeting"]
    assert [(r.stage, r.command_index) for r in ev.of(Reply)] == [(ReplyStage.GREETING, None), (ReplyStage.COMMAND, 0)]


def test_greetingless_capture():
    # Capture starts mid-session: the first server bytes answer a command we never saw.
    items = [(S, b"250 2.1.5 Ok\r\n"), (C, b"DATA\r\n"), (S, b"354 go\r\n"), (C, b"hi\r\n.\r\n"),
             (S, b"250 queued\r\n")]
    ev = decode(items)
    assert ev.kinds()[:2] == ["greeting_missing", "unexpected_reply"]
    assert ev.of(Reply)[-1].stage is ReplyStage.DATA_END
    # told that the capture starts midstream, the decoder resynchronises quietly
    ev = decode([(C, b"a@x>\r\n")] + items, midstream=True)
    assert ev.kinds() == ["unexpected_reply"]
    assert [r.skipped_bytes for r in ev.of(__import__("smtpsniff.smtp.events", fromlist=["Resynced"]).Resynced)] == [0, 6]
    assert ev.conv.client_mode is ClientMode.CLOSED


def test_partial_lines_at_close():
    ev = decode([(S, b"220 mx\r\n"), (C, b"HELO c\r\nMAIL FR"), (S, b"250-mx\r\n250-8BI")])
    assert ev.kinds() == ["incomplete_line", "incomplete_reply"]
    r = ev.of(Reply)[-1]
    assert r.complete is False and r.lines == ("mx", "8BI")
