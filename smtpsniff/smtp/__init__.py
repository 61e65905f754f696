"""SMTP decoding, sans-IO: bytes and timestamps of one connection in, typed events out.

``SmtpConversation`` (conversation.py) is the decoder; events.py its events; states.py every state
and the one transition table; grammar.py the RFC grammar; lines.py, content.py, capabilities.py
and tls.py the pieces it is built from.  Nothing here does I/O.
"""
from __future__ import annotations

from smtpsniff.smtp.conversation import SmtpConversation
from smtpsniff.smtp.events import (
    GREETING_VERB,
    AuthStep,
    AuthStepKind,
    Capabilities,
    Command,
    GapEvent,
    MessageComplete,
    MessageStart,
    PlaintextAfterStarttls,
    Reply,
    ReplyStage,
    Resynced,
    SmtpEvent,
    TlsClientHello,
    TlsServerHello,
    TlsStarted,
)
from smtpsniff.smtp.states import ClientMode, ServerMode, SmtpState

__all__ = [
    "GREETING_VERB", "AuthStep", "AuthStepKind", "Capabilities", "ClientMode", "Command", "GapEvent",
    "MessageComplete", "MessageStart", "PlaintextAfterStarttls", "Reply", "ReplyStage", "Resynced",
    "ServerMode", "SmtpConversation", "SmtpEvent", "SmtpState", "TlsClientHello", "TlsServerHello", "TlsStarted",
]
