"""Fixtures for the net-layer tests; the helpers themselves live in ``netcheck.py``."""
from __future__ import annotations

import pytest

from smtpsniff.net.decode import PacketDecoder

from netcheck import check_invariant


@pytest.fixture
def decoder():
    """A fresh decoder whose accounting invariant is checked when the test ends."""
    dec = PacketDecoder()
    yield dec
    check_invariant(dec)
