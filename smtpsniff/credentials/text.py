"""Turning SASL octets into text without losing them: UTF-8 (RFC 4422 5), other octets escaped."""
from __future__ import annotations


def sasl_text(data: bytes) -> str:
    """UTF-8 text; octets that are not UTF-8 become ``\\xNN`` so nothing is silently lost."""
    return data.decode("utf-8", errors="backslashreplace")
