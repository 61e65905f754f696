"""helo_mismatch: an address literal that is not the client's, the server's own name."""
from __future__ import annotations

import pytest

from smtpsniff.findings.helo_mismatch import _problem

from security_common import findings, session_ids_by_note, shared

NAME = "smtp-spoofing.pcap"


def test_literal_and_server_name():
    notes = session_ids_by_note(NAME)
    f = findings(NAME, "helo_mismatch").set_index("session_id")
    assert set(f.index) == {notes["EHLO address literal that is not the client's"],
                            notes["EHLO with the server's own name"]}
    assert "192.0.2.55 is not the client's address 127.0.0.1" in f.loc[notes["EHLO address literal that is not the client's"], "explanation"]
    assert "greets with the server's own name" in f.loc[notes["EHLO with the server's own name"], "explanation"]


@pytest.mark.parametrize("helo,client,server,expected", [
    ("[10.0.0.7]", "93.184.216.34", "81.2.69.160", None),  # NAT: private literal, public client
    ("[81.2.69.142]", "10.2.25.102", "193.252.22.84", None),  # NAT the other way (capture inside)
    ("[127.0.0.1]", "127.0.0.1", "127.0.0.1", None),
    ("mx.example.test", "127.0.0.1", "127.0.0.1", None),  # same host: a local relay may share the name
    ("localhost", "203.0.113.9", "198.51.100.1", "low"),
    ("[198.51.100.1]", "203.0.113.9", "198.51.100.1", "medium"),
])
def test_rules(helo, client, server, expected):
    problem = _problem(helo, client, server, {"mx.example.test"})
    assert (problem[0].value if problem else None) == expected


def test_silent_on_honest_greetings():
    for name in ("smtp-basic.pcap", "smtp-features.pcap", "captures/smtp-sample.pcap", "smtp-auth.pcap"):
        assert findings(name, "helo_mismatch").empty
    if shared("zeek/smtp/smtp.pcap").exists():
        assert findings("shared:zeek/smtp/smtp.pcap", "helo_mismatch").empty


def test_blank_helo_argument_names_nothing():
    """``EHLO <VT>``: the decoder keeps the vertical tab as the argument (only SP and HT separate);
    the detector must find no name in it rather than fail the whole analysis."""
    from smtpsniff.findings import find
    from smtpsniff.pipeline import SmtpPipeline
    from smtpsniff.reassembly.events import (CloseReason, ConnectionClosed, ConnectionOpened, Direction, Endpoint,
                                             RoleBasis, StreamData)

    c2s, s2c = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
    talk = [(s2c, b"220 mx.example.test ESMTP\r\n"), (c2s, b"EHLO \x0b\r\n"), (s2c, b"250 mx.example.test\r\n"),
            (c2s, b"QUIT\r\n"), (s2c, b"221 bye\r\n")]
    offsets = {c2s: 0, s2c: 0}
    events: list = [ConnectionOpened(conn_id=0, ts_ns=1, frame=1, client=Endpoint(ip="192.0.2.9", port=40000),
                                     server=Endpoint(ip="198.51.100.1", port=25), role_basis=RoleBasis.SYN, ip_version=4,
                                     handshake_seen=True)]
    for i, (d, data) in enumerate(talk, start=2):
        events.append(StreamData(conn_id=0, direction=d, offset=offsets[d], data=data, ts_ns=i, frame=i, frames=(i,)))
        offsets[d] += len(data)
    events.append(ConnectionClosed(conn_id=0, ts_ns=99, frame=99, reason=CloseReason.FIN, bytes_c2s=offsets[c2s],
                                   bytes_s2c=offsets[s2c], gap_bytes_c2s=0, gap_bytes_s2c=0, packets=len(talk)))
    pipeline = SmtpPipeline()
    pipeline._dispatch(events)
    records = pipeline.result.sessions
    assert [c.argument for c in records[0].commands if c.verb == "EHLO"] == ["\x0b"]
    assert [f.kind for f in find(records, []) if f.kind == "helo_mismatch"] == []
