"""One record type for everything unexpected that a capture contains.

Every layer (capture, net, tcp, smtp, mail) reports remote misbehaviour and damaged input as an
``Anomaly`` instead of raising: the run goes on and the anomaly becomes a row of the ``anomalies``
table. This module knows nothing of any layer; it only defines the record.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Layer(str, Enum):
    CAPTURE = "capture"
    NET = "net"
    TCP = "tcp"
    SMTP = "smtp"
    MAIL = "mail"


@dataclass(frozen=True, slots=True, kw_only=True)
class Anomaly:
    """Something the capture held that a well-behaved peer or a whole file would not.

    ``kind`` is a stable snake_case name users can filter on; ``message`` is one readable line.
    ``conn_id`` is set when the anomaly belongs to one TCP connection.
    """

    layer: Layer
    kind: str
    message: str
    ts_ns: int | None = None
    frame: int | None = None
    conn_id: int | None = None
