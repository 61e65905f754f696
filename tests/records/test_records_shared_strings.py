"""Records hold one shared str per known verb and enhanced status code, equal to the decoder's.

The builder swaps the decoder's new str of each command verb, reply verb and enhanced code for
the equal one of ``builder._SHARED_STRINGS``: every record must keep the value the decoder read
(the events are the oracle) and hold the shared object whenever there is one.
"""
from __future__ import annotations

import pytest

from corpus import all_capture_params
from smtpsniff import pipeline as pipeline_module
from smtpsniff.capture.files import open_capture
from smtpsniff.records import builder
from smtpsniff.smtp.events import GREETING_VERB, Command, Reply
from smtpsniff.smtp.grammar import KNOWN_VERBS


def test_records_shared_strings_are_their_own_keys():
    shared = builder._SHARED_STRINGS
    assert all(k == v and type(k) is str and type(v) is str for k, v in shared.items())
    assert KNOWN_VERBS <= shared.keys() and GREETING_VERB in shared
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


@pytest.mark.parametrize("path", all_capture_params())
def test_records_hold_the_decoders_values_as_shared_strings(path, monkeypatch):
    monkeypatch.setattr(pipeline_module, "SessionBuilder", _Recording)
    _Recording.seen = []
    with open_capture(path) as reader:
        pipeline_module.SmtpPipeline().feed_all(reader)
    shared = builder._SHARED_STRINGS
    for events, records in _Recording.seen:
        commands = {e.index: e for e in events if type(e) is Command}
        replies = [e for e in events if type(e) is Reply]
        assert len(records.replies) == len(replies)
        for c in records.commands:
            assert c.verb == commands[c.index].verb
            assert c.verb is shared.get(c.verb, commands[c.index].verb)
        for record, event in zip(records.replies, replies):
            for got, sent in ((record.verb, event.verb), (record.enhanced_code, event.enhanced_code)):
                assert got == sent and type(got) is type(sent)
                assert got is shared.get(got, sent)
