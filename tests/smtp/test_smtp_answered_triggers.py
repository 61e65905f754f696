"""The reply fast path of ``SmtpConversation._server`` moves the session state itself, without
``_answered``, on the triggers of ``_STATE_ONLY``.  That is right only while ``_answered`` does
nothing but move states on them: every trigger it acts on (a ``trigger is _X`` case) must be in
``_ANSWERED_ACTS_ON``, which ``_STATE_ONLY`` leaves out.  A new case in ``_answered`` that is not
named there fails this test, instead of being skipped on the C path only."""
from __future__ import annotations

import inspect
import re

from smtpsniff.smtp import conversation
from smtpsniff.smtp.states import Trigger


def test_every_trigger_answered_acts_on_is_named() -> None:
    source = inspect.getsource(conversation.SmtpConversation._answered)
    names = set(re.findall(r"\btrigger is (_[A-Z_]+)\b", source))
    acted_on = {getattr(conversation, name) for name in names}
    assert names and all(isinstance(t, Trigger) for t in acted_on)
    assert acted_on == conversation._ANSWERED_ACTS_ON


def test_state_only_triggers_leave_out_what_answered_acts_on() -> None:
    assert not conversation._STATE_ONLY & conversation._ANSWERED_ACTS_ON
    assert conversation._STATE_ONLY <= conversation._SESSION_ONLY
