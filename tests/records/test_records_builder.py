"""SessionBuilder's records hold the decoder's values in the right fields.

The builder keeps a command's and a recipient's row as a list in its record's field order and
builds the record by position when the row is done; a reply's record is built by position too.
These tests take the decoder's own events as the oracle: over every capture, each command, reply
and recipient record must carry the values of the event it came from, field by field, and each
transaction's ``last_reply`` and ``end_ts_ns`` those of one of the session's replies.
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from corpus import all_capture_params
from smtpsniff import pipeline as pipeline_module
from smtpsniff.capture.files import open_capture
from smtpsniff.records import builder as builder_module
from smtpsniff.reassembly.events import ConnectionOpened, Endpoint, RoleBasis
from smtpsniff.records.model import CommandRecord, RecipientRecord
from smtpsniff.smtp.events import Command, Reply, ReplyStage


def test_records_row_positions_name_the_record_fields() -> None:
    command = [f.name for f in fields(CommandRecord)]
    assert [command[builder_module._CMD_TRANS], command[builder_module._CMD_REPLY_CODE],
            command[builder_module._CMD_REPLY_FRAME], command[builder_module._CMD_REPLY_TS]] \
        == ["trans_index", "reply_code", "reply_frame", "reply_ts_ns"]
    recipient = [f.name for f in fields(RecipientRecord)]
    assert [recipient[builder_module._RCPT_ADDRESS], recipient[builder_module._RCPT_REPLY_CODE],
            recipient[builder_module._RCPT_REPLY_TEXT]] == ["address", "reply_code", "reply_text"]


class _Recording(builder_module.SessionBuilder):
    """A SessionBuilder that also keeps every event it was given."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.events: list = []
        self.made_with = (args, kwargs)

    def add_all(self, events: list) -> None:
        self.events.extend(events)
        super().add_all(events)

    def add(self, event: object) -> None:
        self.events.append(event)
        super().add(event)

    def finish(self, *args, **kwargs):
        records = super().finish(*args, **kwargs)
        _SEEN.append((self.events, records))
        _MADE.append((self.made_with, self.events, (args, kwargs), records))
        return records


_SEEN: list = []
_MADE: list = []  # (builder arguments, events, finish arguments, records) of each session


def _sessions(path: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    _SEEN.clear()
    monkeypatch.setattr(pipeline_module, "SessionBuilder", _Recording)
    with open_capture(path) as reader:
        pipeline_module.SmtpPipeline().feed_all(reader)
    seen, _SEEN[:] = list(_SEEN), []
    return seen


def _params(params: dict) -> str:
    return " ".join(k if v is None else f"{k}={v}" for k, v in params.items())


@pytest.mark.parametrize("path", all_capture_params())
def test_records_fields_carry_the_events_values(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for events, records in _sessions(path, monkeypatch):
        sid = records.session.session_id
        commands = [e for e in events if type(e) is Command]
        replies = [e for e in events if type(e) is Reply]
        first_reply: dict[int, Reply] = {}
        for r in replies:
            if r.command_index is not None:
                first_reply.setdefault(r.command_index, r)

        assert len(records.commands) == len(commands)
        for rec, c in zip(records.commands, commands):
            answer = first_reply.get(c.index)
            assert (rec.session_id, rec.index, rec.ts_ns, rec.frame, rec.verb, rec.argument, rec.known,
                    rec.pipelined, rec.raw) == (sid, c.index, c.ts_ns, c.frame, c.verb, c.argument, c.known,
                                                c.pipelined, c.raw)
            assert (rec.reply_code, rec.reply_frame, rec.reply_ts_ns) == (
                (None, None, None) if answer is None else (answer.code, answer.frame, answer.ts_ns))
            assert rec.trans_index is None or 0 <= rec.trans_index < len(records.transactions)

        assert len(records.replies) == len(replies)
        for i, (rec, r) in enumerate(zip(records.replies, replies)):
            stage = None if r.stage in (ReplyStage.COMMAND, ReplyStage.GREETING) else r.stage.value
            assert (rec.session_id, rec.index, rec.ts_ns, rec.frame, rec.code, rec.enhanced_code, rec.text,
                    rec.lines, rec.verb, rec.stage, rec.command_index) == (
                sid, i, r.ts_ns, r.frame, r.code, r.enhanced_code, r.text, len(r.lines), r.verb, stage,
                r.command_index)

        rcpt_commands = [c for c in commands if c.verb == "RCPT"]
        assert len(records.recipients) == len(rcpt_commands)
        by_trans: dict[int, int] = {}
        for rec, c in zip(records.recipients, rcpt_commands):
            assert (rec.session_id, rec.ts_ns, rec.frame, rec.address, rec.params) == (
                sid, c.ts_ns, c.frame, c.address if c.address is not None else c.argument, _params(c.params))
            assert rec.index == by_trans.get(rec.trans_index, 0)
            by_trans[rec.trans_index] = rec.index + 1
            assert rec.reply_code is None or (rec.reply_code, rec.reply_text) in {
                (r.code, r.text) for r in replies if r.command_index == c.index}

        last_replies = {(r.ts_ns, f"{r.code} {r.lines[-1] if r.lines else ''}".rstrip()) for r in replies}
        for i, t in enumerate(records.transactions):
            assert (t.session_id, t.trans_index) == (sid, i)
            assert (t.end_ts_ns is None) == (t.last_reply is None)
            assert t.end_ts_ns is None or (t.end_ts_ns, t.last_reply) in last_replies
            mine = [r for r in records.recipients if r.trans_index == i]
            assert t.rcpt_to == tuple(r.address for r in mine)
            assert t.rcpt_codes == tuple(r.reply_code for r in mine)
            assert t.rcpt_accepted == sum(1 for r in mine if r.reply_code is not None and 200 <= r.reply_code < 300)



def test_records_new_transaction_row_is_the_dataclass_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The positional builder of a transaction's open row gives what ``_Transaction(...)`` gives."""
    sample = Path(__file__).resolve().parents[2] / "captures" / "smtp-sample.pcap"
    _, records = _sessions(sample, monkeypatch)[0]
    s = records.session
    opened = ConnectionOpened(conn_id=s.session_id, ts_ns=s.start_ns, frame=s.first_frame,
                              client=Endpoint(ip=s.client_ip, port=s.client_port),
                              server=Endpoint(ip=s.server_ip, port=s.server_port),
                              role_basis=RoleBasis(s.role_basis), ip_version=s.ip_version,
                              handshake_seen=s.handshake_seen)
    for helo, tls, done in ((None, False, 0), (s.helo, True, 3)):
        builder = builder_module.SessionBuilder(opened, detected_by="port", implicit_tls=tls)
        builder._helo, builder._messages_transferred = helo, done
        built = builder._new_transaction()
        expected = builder_module._Transaction(trans_index=0, trans_depth=done + 1, helo=helo, tls=tls)
        assert repr(built) == repr(expected) and built == expected
        assert built.rcpt is not builder._new_transaction().rcpt  # a fresh list per row


@pytest.mark.parametrize("path", all_capture_params())
def test_records_event_by_event_same_as_the_pipeline(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline hands a session's events to its builder at once (``add_all`` at close); a builder
    given the same events one ``add`` at a time, as they came, builds the same records."""
    _MADE.clear()
    _sessions(path, monkeypatch)
    made, _MADE[:] = list(_MADE), []
    for (args, kwargs), events, (finish_args, finish_kwargs), records in made:
        builder = builder_module.SessionBuilder(*args, **kwargs)
        for event in events:
            builder.add(event)
        again = builder.finish(*finish_args, **finish_kwargs)
        assert again == records
        assert repr(again) == repr(records)
