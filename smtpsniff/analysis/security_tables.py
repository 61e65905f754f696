"""Table provider for the ``credentials`` and ``findings`` tables.

Registered in :data:`~smtpsniff.analysis.capture.TABLE_PROVIDERS` after the mail tables.
Credentials come from :mod:`smtpsniff.credentials`, findings from :mod:`smtpsniff.findings`;
secrets (passwords, tokens, crackable hash lines) are masked unless ``options.show_secrets``.
"""
from __future__ import annotations

import pandas as pd

from ..credentials import Credential, credentials
from ..credentials.mask import mask
from ..findings import Finding, find
from ..records.builder import SessionRecords
from .tables import add_connection_columns, frame_from_rows


def build(records: list[SessionRecords], tables: dict[str, pd.DataFrame], options) -> dict[str, pd.DataFrame]:
    creds = [c for r in records for c in credentials(r)]
    found = find(records, creds, thresholds=options.thresholds, show_secrets=options.show_secrets,
                 limits=options.limits, tables=tables)
    sessions = tables["sessions"]
    out = {
        "credentials": frame_from_rows("credentials", (_credential_row(c, options.show_secrets) for c in creds)),
        "findings": frame_from_rows("findings", (finding_row(f) for f in found)),
    }
    for frame in out.values():
        add_connection_columns(frame, sessions)
    return out


def _credential_row(c: Credential, show_secrets: bool) -> dict:
    row = {name: getattr(c, name) for name in c.__dataclass_fields__}
    row.update(ts=c.ts_ns, secret=mask(c.secret, show_secrets), hash=mask(c.hash, show_secrets),
               cleartext=not c.tls)
    return row


def finding_row(f: Finding) -> dict:
    return {"session_id": f.session_id, "ts": f.ts_ns, "frame": f.frame, "kind": f.kind,
            "severity": f.severity.value, "explanation": f.explanation, "evidence": f.evidence,
            "frames": list(f.frames), "sessions": list(f.sessions)}
