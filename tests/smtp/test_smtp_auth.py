"""AUTH exchanges (RFC 4954): initial response, 334 challenges, responses, cancel, outcomes."""
from __future__ import annotations

import base64

from smtp_transcript import C, S, decode

from smtpsniff.reassembly.events import Direction
from smtpsniff.smtp.events import AuthStep, AuthStepKind, Command, Reply, ReplyStage
from smtpsniff.smtp.states import SmtpState

HEAD = [(S, b"220 mx\r\n"), (C, b"EHLO c\r\n"), (S, b"250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n")]


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def steps(ev) -> list[tuple]:
    return [(s.direction, s.kind, s.data) for s in ev.of(AuthStep)]


def test_plain_with_initial_response():
    ev = decode(HEAD + [(C, b"AUTH PLAIN " + b64(b"\0user\0secret") + b"\r\n"), (S, b"235 2.7.0 Authentication successful\r\n"),
                        (C, b"MAIL FROM:<a@x>\r\n"), (S, b"250 ok\r\n")])
    assert steps(ev) == [(Direction.CLIENT_TO_SERVER, AuthStepKind.INITIAL, b"\0user\0secret")]
    step = ev.first(AuthStep)
    assert step.mechanism == "PLAIN" and step.decoded and step.command_index == 1
    r = [r for r in ev.of(Reply) if r.verb == "AUTH"]
    assert [(x.code, x.stage) for x in r] == [(235, ReplyStage.COMMAND)]
    assert ev.of(Command)[-1].verb == "MAIL" and ev.kinds() == []


def test_plain_with_empty_challenge():
    ev = decode(HEAD + [(C, b"AUTH PLAIN\r\n"), (S, b"334 \r\n"), (C, b64(b"\0u\0p") + b"\r\n"),
                        (S, b"235 ok\r\n")])
    assert steps(ev) == [(Direction.SERVER_TO_CLIENT, AuthStepKind.CHALLENGE, b""),
                         (Direction.CLIENT_TO_SERVER, AuthStepKind.RESPONSE, b"\0u\0p")]
    assert [r.stage for r in ev.of(Reply) if r.verb == "AUTH"] == [ReplyStage.AUTH_CHALLENGE, ReplyStage.COMMAND]
    # the response line is no command
    assert [c.verb for c in ev.of(Command)] == ["EHLO", "AUTH"]


def test_plain_empty_initial_response():
    ev = decode(HEAD + [(C, b"AUTH PLAIN =\r\n"), (S, b"535 5.7.8 failed\r\n")])
    assert steps(ev) == [(Direction.CLIENT_TO_SERVER, AuthStepKind.INITIAL, b"")]


def test_login():
    ev = decode(HEAD + [(C, b"AUTH LOGIN\r\n"), (S, b"334 VXNlcm5hbWU6\r\n"), (C, b64(b"alice") + b"\r\n"),
                        (S, b"334 UGFzc3dvcmQ6\r\n"), (C, b64(b"wonderland") + b"\r\n"),
                        (S, b"535 5.7.8 Error: authentication failed\r\n"), (C, b"QUIT\r\n"), (S, b"221 bye\r\n")])
    assert [(k, d) for _, k, d in steps(ev)] == [
        (AuthStepKind.CHALLENGE, b"Username:"), (AuthStepKind.RESPONSE, b"alice"),
        (AuthStepKind.CHALLENGE, b"Password:"), (AuthStepKind.RESPONSE, b"wonderland")]
    assert [c.verb for c in ev.of(Command)] == ["EHLO", "AUTH", "QUIT"]
    final = [r for r in ev.of(Reply) if r.verb == "AUTH"][-1]
    assert final.code == 535 and final.command_index == 1 and final.stage is ReplyStage.COMMAND


def test_cram_md5():
    challenge = b"<1896.697170952@postoffice.example.net>"
    resp = b"tim b913a602c7eda7a495b4e6e7334d3890"
    ev = decode(HEAD + [(C, b"AUTH CRAM-MD5\r\n"), (S, b"334 " + b64(challenge) + b"\r\n"),
                        (C, b64(resp) + b"\r\n"), (S, b"235 2.7.0 ok\r\n")])
    assert [d for _, _, d in steps(ev)] == [challenge, resp]
    assert ev.first(AuthStep).mechanism == "CRAM-MD5"


def test_cancel():
    ev = decode(HEAD + [(C, b"AUTH LOGIN\r\n"), (S, b"334 VXNlcm5hbWU6\r\n"), (C, b"*\r\n"),
                        (S, b"501 5.7.0 Authentication aborted\r\n"), (C, b"NOOP\r\n"), (S, b"250 ok\r\n")])
    kinds = [k for _, k, _ in steps(ev)]
    assert kinds == [AuthStepKind.CHALLENGE, AuthStepKind.CANCEL]
    assert [c.verb for c in ev.of(Command)] == ["EHLO", "AUTH", "NOOP"]
    assert ev.conv.state is SmtpState.CLOSED


def test_command_pipelined_after_auth_is_held_until_outcome():
    ev = decode(HEAD + [(C, b"AUTH PLAIN " + b64(b"\0u\0p") + b"\r\nMAIL FROM:<a@x>\r\n"),
                        (S, b"235 ok\r\n250 ok\r\n")])
    assert [c.verb for c in ev.of(Command)] == ["EHLO", "AUTH", "MAIL"]
    assert [r.verb for r in ev.of(Reply)][-2:] == ["AUTH", "MAIL"]


def test_response_not_base64():
    ev = decode(HEAD + [(C, b"AUTH LOGIN\r\n"), (S, b"334 VXNlcm5hbWU6\r\n"), (C, b"not base64!\r\n"),
                        (S, b"501 bad\r\n")])
    step = ev.of(AuthStep)[-1]
    assert not step.decoded and step.data == b"not base64!"
    assert "auth_response_not_base64" in ev.kinds()
