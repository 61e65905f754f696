"""Charts of a capture's tables, one function each: ``chart(data, ax=None, **options) -> Axes``.

``data`` is a :class:`~smtpsniff.analysis.capture.Capture` or a mapping of its tables.  A chart
never touches global matplotlib state: without ``ax`` it draws on a new Figure (``ax.figure``)
that pyplot does not know, so it works under any backend (Agg included) and in threads.
``Capture.plot`` offers the same charts as methods (``cap.plot.reply_codes()``).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

from matplotlib.axes import Axes

from ..conversation import conversation
from .activity import activity
from .latency import latency, transfer_rate
from .ladder import ladder
from .replies import reply_codes, top_errors
from .security import credentials, findings
from .tls import tls_use
from .top import top_domains, top_recipients, top_senders

#: Every chart of a whole capture, by name, in the order a report shows them.
CHARTS: dict[str, Callable[..., Axes]] = {
    "reply_codes": reply_codes,
    "top_errors": top_errors,
    "activity": activity,
    "tls_use": tls_use,
    "credentials": credentials,
    "findings": findings,
    "latency": latency,
    "transfer_rate": transfer_rate,
    "top_senders": top_senders,
    "top_recipients": top_recipients,
    "top_domains": top_domains,
}


class Plotter:
    """``cap.plot``: the charts of :data:`CHARTS` as methods, plus ``ladder(session_id)``."""

    def __init__(self, capture) -> None:
        self._capture = capture

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(CHARTS))

    def ladder(self, session_id: int, ax: Axes | None = None, *, show_secrets: bool = False, **options) -> Axes:
        """The ladder diagram of one session (see :func:`~smtpsniff.analysis.charts.ladder.ladder`)."""
        records = next((r for r in self._capture.records if r.session.session_id == session_id), None)
        if records is None:
            raise KeyError(f"no session {session_id}")
        return ladder(conversation(records, show_secrets=show_secrets), ax, **options)


def _method(name: str, chart: Callable[..., Axes]):
    @functools.wraps(chart)
    def method(self: Plotter, ax: Axes | None = None, **options) -> Axes:
        return chart(self._capture, ax, **options)
    method.__name__ = name
    return method


for _name, _chart in CHARTS.items():
    setattr(Plotter, _name, _method(_name, _chart))

__all__ = ["CHARTS", "Plotter", *CHARTS, "ladder"]
