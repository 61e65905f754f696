"""Records hold one shared str per known verb and enhanced status code, equal to the decoder's.

The decoder hands out the one str of ``grammar.SHARED_TEXT`` for each known command verb, reply
verb and enhanced code it reads, from its C readers and from its Python code alike: every record
must keep the value the wire said (a new reading of the raw line is the oracle) and hold the shared
object whenever there is one.
"""
from __future__ import annotations

import pytest

from corpus import all_capture_params
from smtpsniff import pipeline as pipeline_module
from smtpsniff.capture.files import open_capture
from smtpsniff.net import native
from smtpsniff.records import builder
from smtpsniff.smtp import grammar
from smtpsniff.smtp.events import GREETING_VERB, Command, Reply
from smtpsniff.smtp.grammar import KNOWN_VERBS, SHARED_TEXT


def test_records_shared_strings_are_their_own_keys():
    shared = SHARED_TEXT
    assert all(k is v and type(k) is str for k, v in shared.items())
    assert KNOWN_VERBS == shared.keys() - {k for k in shared if k[0].isdigit()}
    assert {"2.0.0", "2.1.5", "4.7.0", "5.7.30", "5.9.99"} <= shared.keys()
    assert not {"3.0.0", "2.10.0", "2.1.100", "250"} & shared.keys()


class _Recording(builder.SessionBuilder):
    seen: list = []

    def add_all(self, events: list) -> None:
        self.events = [*getattr(self, "events", ()), *events]
        super().add_all(events)

    def finish(self, *args, **kwargs):
        records = super().finish(*args, **kwargs)
        _Recording.seen.append((getattr(self, "events", []), records))
        return records


@pytest.mark.parametrize("switch", ["1", "0"], ids=["c-readers", "python"])
@pytest.mark.parametrize("path", all_capture_params())
def test_records_hold_the_decoders_values_as_shared_strings(path, switch, monkeypatch):
    monkeypatch.setenv(native.ENV_SWITCH, switch)
    monkeypatch.setattr(pipeline_module, "SessionBuilder", _Recording)
    _Recording.seen = []
    with open_capture(path) as reader:
        pipeline_module.SmtpPipeline().feed_all(reader)
    shared = SHARED_TEXT
    for events, records in _Recording.seen:
        commands = {e.index: e for e in events if type(e) is Command}
        replies = [e for e in events if type(e) is Reply]
        assert len(records.replies) == len(replies)
        for c in records.commands:
            event = commands[c.index]
            m = grammar.COMMAND_LINE.match(grammar.wire_text(event.raw).rstrip("\r\n"))
            assert c.verb is event.verb and c.verb == m.group("verb").upper()
            assert c.verb is shared.get(c.verb, c.verb)
        for record, event in zip(records.replies, replies):
            assert record.verb is event.verb and record.enhanced_code is event.enhanced_code
            assert record.verb is shared.get(record.verb, record.verb) or record.verb is GREETING_VERB
            if event.lines and (m := grammar.ENHANCED_CODE.match(event.lines[0])):
                assert record.enhanced_code == m.group("code")
                assert record.enhanced_code is shared.get(record.enhanced_code, record.enhanced_code)
            else:
                assert record.enhanced_code is None
