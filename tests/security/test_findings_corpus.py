"""No false positives: every capture of captures/, tests/data and ../shared/captures gives exactly the
findings its real content has.

``EXPECTED`` names, per capture, the posture kinds (``no_tls``, ``starttls_not_used``: what plain
sessions always get) and the kinds of the real issues in it, each reviewed by hand:

* tests/data/smtp-*attack*/-relay/-smuggling/...: the attacks recorded for them (tests/data/record);
* clear-text AUTH where a capture has it (smtp-auth, the demo, zeek/smtp, emotet, arkime PLAIN/NTLM,
  pcapplusplus LOGIN) with ``auth_before_starttls`` where the server offered it in clear;
* early talkers that really are: arkime smtp-moloch-bof, smtp-subject-windows and zeek
  smtp-mail-transactions-invalid send their commands before the 220 (frames 4 vs 6/8);
* arkime smtp-subject-windows / smtp-subject-multi-nospace end their text with ``\\r\\n\\n.\\n``
  before CRLF.CRLF (an LF end-of-data shape, nothing behind it: ``low``);
* zeek bdat-cmd-chunk-size-overflow(2) / negative-chunk-size have ``BDAT ... LAST\\r\\r\\n`` (bare CR);
* helo_mismatch: arkime smtp-data-250 and smtp-rcpt-553 (EHLO localhost from 10.0.0.1), zeek
  http_connect-with-smtp (HELO 208.191.73.21 through an HTTP CONNECT proxy, a spam bot's shape);
* sender_mismatch: zeek smtp-bdat-pipeline-8bitmime (a vger.kernel.org list message: list bounce
  address vs the author's From, as DMARC alignment would report it).

A capture not in the table (added later by anyone) must show no attack kind at all.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus import ROOT, SHARED, all_capture_params  # noqa: E402

import smtpsniff  # noqa: E402
from smtpsniff.findings import kinds  # noqa: E402

#: Kinds any plain-text capture may show without an attack in it.
EXPOSURE = {"no_tls", "starttls_not_used", "auth_before_starttls", "cleartext_auth", "sender_mismatch"}

EXPECTED: dict[str, tuple[list[str], list[str]]] = {
    'captures/smtp-sample.pcap': (['no_tls', 'starttls_not_used'], ['auth_before_starttls', 'cleartext_auth', 'user_enumeration']),
    'tests/data/capture/loopback.pcapng': ([], []),
    'tests/data/capture/loopback_ns.pcap': ([], []),
    'tests/data/capture/loopback_snap64.pcapng': ([], []),
    'tests/data/capture/loopback_us.pcap': ([], []),
    'tests/data/net/any-sll2.pcap': (['no_tls'], []),
    'tests/data/smtp-any-sll2.pcap': (['no_tls'], []),
    'tests/data/smtp-auth-attacks.pcap': (['no_tls', 'starttls_not_used'], ['auth_before_starttls', 'auth_bruteforce', 'cleartext_auth', 'password_spraying']),
    'tests/data/smtp-auth-mechs.pcap': (['no_tls'], ['auth_before_starttls', 'cleartext_auth']),
    'tests/data/smtp-auth.pcap': (['no_tls', 'starttls_not_used'], ['auth_before_starttls', 'cleartext_auth']),
    'tests/data/smtp-basic-ns.pcap': (['no_tls'], []),
    'tests/data/smtp-basic.pcap': (['no_tls'], []),
    'tests/data/smtp-basic.pcapng': (['no_tls'], []),
    'tests/data/smtp-bdat.pcap': (['no_tls', 'starttls_not_used'], []),
    'tests/data/smtp-command-injection.pcap': (['no_tls', 'starttls_not_used'], ['command_injection']),
    'tests/data/smtp-early-talker.pcap': (['no_tls'], ['early_talker']),
    'tests/data/smtp-enumeration.pcap': (['no_tls', 'starttls_not_used'], ['user_enumeration']),
    'tests/data/smtp-features.pcap': (['no_tls'], []),
    'tests/data/smtp-hostile-names.pcap': (['no_tls'], []),
    'tests/data/smtp-implicit-tls.pcap': ([], []),
    'tests/data/smtp-injection.pcap': (['no_tls'], []),
    'tests/data/smtp-ipv6.pcap': (['no_tls'], []),
    'tests/data/smtp-mime.pcap': (['no_tls'], []),
    'tests/data/smtp-relay.pcap': (['no_tls', 'starttls_not_used'], ['open_relay_accepted', 'open_relay_attempt']),
    'tests/data/smtp-smuggling.pcap': (['no_tls', 'starttls_not_used'], ['smtp_smuggling']),
    'tests/data/smtp-spoofing.pcap': (['no_tls'], ['display_name_spoof', 'helo_mismatch', 'multiple_from', 'sender_mismatch']),
    'tests/data/smtp-starttls-attacks.pcap': (['no_tls'], ['auth_before_starttls', 'cleartext_auth', 'starttls_command_injection', 'starttls_response_injection', 'starttls_stripping']),
    'tests/data/smtp-starttls.pcap': ([], ['auth_before_starttls']),
    'tests/data/smtp-utf8.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/arkime/arkime_synthetic/arkime_synthetic.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/arkime/ntlm_synthetic/ntlm_synthetic.pcap': (['no_tls'], ['auth_before_starttls', 'cleartext_auth']),
    'captures/arkime/smtp-data-250/smtp-data-250.pcap': (['no_tls', 'starttls_not_used'], ['auth_before_starttls', 'cleartext_auth', 'helo_mismatch']),
    'captures/arkime/smtp-data-521/smtp-data-521.pcap': (['no_tls', 'starttls_not_used'], ['auth_before_starttls', 'cleartext_auth']),
    'captures/arkime/smtp-decrypted/smtp-decrypted.pcap': ([], ['auth_before_starttls']),
    'captures/arkime/smtp-html/smtp-html.pcap': ([], []),
    'captures/arkime/smtp-moloch-bof/smtp-moloch-bof.pcap': (['no_tls'], ['early_talker']),
    'captures/arkime/smtp-nospaces/smtp-nospaces.pcap': (['no_tls'], []),
    'captures/arkime/smtp-originating/smtp-originating.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/arkime/smtp-rcpt-553/smtp-rcpt-553.pcap': (['no_tls', 'starttls_not_used'], ['auth_before_starttls', 'helo_mismatch']),
    'captures/arkime/smtp-starttls/smtp-starttls.pcap': ([], []),
    'captures/arkime/smtp-subject-8859-b/smtp-subject-8859-b.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/arkime/smtp-subject-8859-multi/smtp-subject-8859-multi.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/arkime/smtp-subject-8859-q/smtp-subject-8859-q.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/arkime/smtp-subject-encoded-empty/smtp-subject-encoded-empty.pcap': (['no_tls'], []),
    'captures/arkime/smtp-subject-gb2312-b/smtp-subject-gb2312-b.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/arkime/smtp-subject-multi-nospace/smtp-subject-multi-nospace.pcap': (['no_tls'], ['smtp_smuggling']),
    'captures/arkime/smtp-subject-utf8-mixed/smtp-subject-utf8-mixed.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/arkime/smtp-subject-utf8-q/smtp-subject-utf8-q.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/arkime/smtp-subject-windows/smtp-subject-windows.pcap': (['no_tls'], ['early_talker', 'smtp_smuggling']),
    'captures/arkime/smtp-zip/smtp-zip.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/arkime/socks5-smtp-503/socks5-smtp-503.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/arkime/wireshark-bdat/wireshark-bdat.pcap': (['no_tls'], []),
    'captures/ndpi/emotet/emotet.pcap': (['no_tls'], ['auth_before_starttls', 'cleartext_auth']),
    'captures/ndpi/smtp/smtp.pcap': (['no_tls'], []),
    'captures/ndpi/smtp-starttls/smtp-starttls.pcap': ([], []),
    'captures/ndpi/smtps/smtps.pcapng': ([], []),
    'captures/pcapplusplus/Smtp/Smtp.pcap': (['no_tls'], ['cleartext_auth']),
    'captures/zeek/communityid_ipv6/ipv6.pcap': (['no_tls'], []),
    'captures/zeek/http_connect-with-smtp/connect-with-smtp.pcap': (['no_tls'], ['helo_mismatch']),
    'captures/zeek/smtp/smtp.pcap': (['no_tls', 'starttls_not_used'], ['auth_before_starttls', 'cleartext_auth']),
    'captures/zeek/smtp-attachment-msg/smtp-attachment-msg.pcap': (['no_tls'], []),
    'captures/zeek/smtp-mail-transactions-invalid/smtp-mail-transactions-invalid.pcap': (['no_tls', 'starttls_not_used'], ['early_talker']),
    'captures/zeek/smtp-multi-addr/smtp-multi-addr.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/zeek/smtp-one-side-only/smtp-one-side-only.pcap': (['no_tls'], []),
    'captures/zeek/smtp_mime-header-size-limit/mime-header-size-limit.pcap': (['no_tls'], []),
    'captures/zeek/smtp_rfc3030-bdat-0-last/rfc3030-bdat-0-last.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/zeek/smtp_rfc3030-bdat-example1/rfc3030-bdat-example1.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/zeek/smtp_rfc3030-bdat-multipart/rfc3030-bdat-multipart.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/zeek/smtp_rfc3030-bdat-multipart-chunked/rfc3030-bdat-multipart-chunked.pcap': (['no_tls', 'starttls_not_used'], []),
    'captures/zeek/smtp_rfc3030-bdat-nonascii/rfc3030-bdat-nonascii.pcap': (['no_tls'], []),
    'captures/zeek/smtp_smtp-bdat-cmd-chunk-size-overflow/smtp-bdat-cmd-chunk-size-overflow.pcap': (['no_tls', 'starttls_not_used'], ['command_injection']),
    'captures/zeek/smtp_smtp-bdat-cmd-chunk-size-overflow2/smtp-bdat-cmd-chunk-size-overflow2.pcap': (['no_tls', 'starttls_not_used'], ['command_injection']),
    'captures/zeek/smtp_smtp-bdat-cmd-invalid/smtp-bdat-cmd-invalid.pcapng': (['no_tls', 'starttls_not_used'], []),
    'captures/zeek/smtp_smtp-bdat-cmd-negative-chunk-size/smtp-bdat-cmd-negative-chunk-size.pcap': (['no_tls', 'starttls_not_used'], ['command_injection']),
    'captures/zeek/smtp_smtp-bdat-gap/smtp-bdat-gap.pcap': (['no_tls'], []),
    'captures/zeek/smtp_smtp-bdat-pipeline-8bitmime/smtp-bdat-pipeline-8bitmime.pcap': (['no_tls', 'starttls_not_used'], ['sender_mismatch']),
    'captures/zeek/smtp_smtp-many-addresses/smtp-many-addresses.pcap': (['no_tls'], []),
    'captures/zeek/tls_smtp-starttls/smtp-starttls.pcap': ([], []),
}


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path.relative_to(SHARED.parent))


@pytest.mark.parametrize("path", all_capture_params())
def test_findings_are_exactly_the_real_issues_and_plain_relaying_is_low(path):
    cap = smtpsniff.read(path)
    found = set(cap.findings["kind"].astype(str))
    name = _name(path)
    if name not in EXPECTED:
        assert not found - EXPOSURE, f"{name}: attack kinds on a capture without a reviewed entry: {found - EXPOSURE}"
    else:
        posture, real = EXPECTED[name]
        assert found == set(posture) | set(real), (
            f"{name}: found {sorted(found)}; review and update EXPECTED in this file if the capture changed")
    # plain relaying is never above low
    f = cap.findings
    assert set(f.loc[f["kind"] == "no_tls", "severity"].astype(str)) <= {"info", "low"}
    port25 = set(cap.sessions.loc[cap.sessions["server_port"] == 25, "session_id"])
    plain = f[(f["kind"].isin(["no_tls", "starttls_not_used"])) & f["session_id"].isin(port25)]
    auth_sessions = set(cap.credentials["session_id"])
    assert set(plain.loc[~plain["session_id"].isin(auth_sessions), "severity"].astype(str)) <= {"info", "low"}


def test_every_attack_kind_is_proven_somewhere():
    proven = {k for posture, real in EXPECTED.values() for k in real}
    assert set(kinds()) - {"no_tls", "starttls_not_used"} <= proven
