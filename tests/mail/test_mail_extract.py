"""``smtpsniff extract``: byte-identical .eml files, decoded attachments, and hostile names that stay put.

Oracles: the recorder's sidecars (the bytes the client sent and the sha256 of every file it
attached), Zeek's own extraction of the same messages (extract_files.mail and the SHA-1 of the
whole message in files.log), and the file system itself after a run on a real capture whose
attachment names were chosen to escape (tests/data/smtp-hostile-names.pcap, recorded with smtplib
against aiosmtpd on loopback).
"""
from __future__ import annotations

import csv
import hashlib
import os
import unicodedata
from pathlib import Path

import pytest
from mail_oracles import (
    ROOT,
    ZEEK,
    captures_with_sidecars,
    mail_of,
    read_zeek_tsv,
    sent_messages,
    sidecar,
    zeek_baselines,
    zeek_capture,
)

from smtpsniff.cli import main
from smtpsniff.output.extract import ExtractError, escaped, extract
from smtpsniff.output.safe import MAX_FILENAME_BYTES

HOSTILE = ROOT / "tests" / "data" / "smtp-hostile-names.pcap"
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _every_path(top: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(top, followlinks=False):
        found += [Path(folder) / name for name in dirs + files]
    return found


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    out = base / "a" / "b" / "out"
    watched = [Path("/etc/passwd"), Path("/tmp/smtpsniff-escape"), Path("/tmp/x")]
    before = {p: (p.stat().st_mtime_ns if p.exists() else None) for p in watched}
    status = main(["extract", str(HOSTILE), "-o", str(out)])
    after = {p: (p.stat().st_mtime_ns if p.exists() else None) for p in watched}
    return base, out, status, before, after


def test_hostile_names_stay_inside_the_output_folder(hostile_run):
    base, out, status, before, after = hostile_run
    assert status == 0
    assert before == after  # nothing written at the absolute or escaping paths the names spell
    root = out.resolve()
    for path in _every_path(base):
        assert not path.is_symlink(), path
        if path.is_file():
            assert path.resolve().is_relative_to(root), f"{path} escaped {root}"
    names = [p.name for p in (out / "attachments").iterdir()]
    sent = [a for m in sent_messages(HOSTILE) for a in m["attachments"]]
    assert len(names) == len(sent) == 50
    for name in names:
        assert "/" not in name and "\\" not in name, name
        assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name), repr(name)
        assert not name.startswith(".") and not name.endswith((".", " ")), name
        assert len(name.encode("utf-8")) <= 255 and len(name.encode("utf-8")) <= MAX_FILENAME_BYTES + 10
        assert name.split(".")[0].split(" (")[0].lower() not in _RESERVED, name
        assert not any(ch in name for ch in ':*?"<>|'), name


def test_hostile_attachments_are_the_files_that_were_attached(hostile_run):
    _, out, _, _, _ = hostile_run
    rows = _manifest(out / "manifest.csv")
    attachments = [r for r in rows if r["kind"] == "attachment"]
    sent = [a for m in sent_messages(HOSTILE) for a in m["attachments"]]
    assert len(attachments) == len(sent)
    for row, truth in zip(attachments, sent):  # manifest rows follow message and part order
        written = out / row["file"]
        assert _sha256(written) == row["sha256"] == truth["sha256"]
        assert written.stat().st_size == int(row["size"]) == truth["size"]
        assert row["original_filename"] == (escaped(truth["filename"]) or "")
        assert row["content_type"] == truth["content_type"]
    # every collision was numbered, none overwritten: 50 distinct files for 50 attachments
    assert len({r["file"] for r in attachments}) == 50


def test_hostile_messages_are_byte_identical(hostile_run):
    _, out, _, _, _ = hostile_run
    messages = [r for r in _manifest(out / "manifest.csv") if r["kind"] == "message"]
    sent = sent_messages(HOSTILE)
    assert len(messages) == len(sent) == 2
    for row, truth in zip(messages, sent):
        assert (out / row["file"]).read_bytes() == truth["bytes"]
        assert row["sha256"] == truth["sha256"] == hashlib.sha256(truth["bytes"]).hexdigest()
        assert row["complete"] == "True" and row["mail_from"] == truth["mail_from"]


def test_a_second_run_overwrites_nothing(tmp_path):
    out = tmp_path / "out"
    assert main(["extract", str(HOSTILE), "-o", str(out)]) == 0
    first = {p: _sha256(p) for p in _every_path(out) if p.is_file()}
    assert main(["extract", str(HOSTILE), "-o", str(out)]) == 0
    for path, digest in first.items():
        assert _sha256(path) == digest
    assert (out / "manifest (2).csv").is_file()
    second = _manifest(out / "manifest (2).csv")
    assert {r["file"] for r in second}.isdisjoint(str(p.relative_to(out)) for p in first)
    assert len([p for p in _every_path(out) if p.is_file()]) == 2 * len(first)


def test_links_planted_in_the_output_folder_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "target"
    target.write_bytes(b"keep")
    out = tmp_path / "out"
    (out / "attachments").mkdir(parents=True)
    (out / "messages").mkdir()
    (out / "attachments" / "report.pdf").symlink_to(target)
    (out / "messages" / "00000-0.eml").symlink_to(target)
    (out / "attachments" / "dangling.txt").symlink_to(outside / "missing")
    assert main(["extract", str(HOSTILE), "-o", str(out)]) == 0
    assert target.read_bytes() == b"keep"
    assert sorted(p.name for p in outside.iterdir()) == ["target"]
    assert (out / "attachments" / "report.pdf").is_symlink()
    rows = _manifest(out / "manifest.csv")
    assert "messages/00000-0 (2).eml" in {r["file"] for r in rows}
    assert "attachments/report.pdf" not in {r["file"] for r in rows}


def test_a_linked_subfolder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "attachments").symlink_to(outside, target_is_directory=True)
    assert main(["extract", str(HOSTILE), "-o", str(out)]) == 2
    assert list(outside.iterdir()) == []
    with pytest.raises(ExtractError):
        extract(mail_of(HOSTILE), out)


# -- byte identity on every own capture ------------------------------------------------------------
@pytest.mark.parametrize("capture", captures_with_sidecars(), ids=lambda p: p.name)
def test_every_eml_is_the_message_the_client_sent(capture, tmp_path):
    sent = sent_messages(capture)
    mail = mail_of(capture)
    summary = extract(mail, tmp_path)
    rows = _manifest(summary.manifest)
    messages = [r for r in rows if r["kind"] == "message"]
    # A message sent outside any transaction (smtp-bdat: "BDAT 0 LAST" answered 503) is extracted
    # too, but the client never had it delivered, so the sidecar does not list it.
    outside = {(m.session_id, m.message_index) for m in mail
               if m.transaction is None or m.transaction.mail_from is None}
    refused = [c for s in sidecar(capture)["sessions"] for c in s["commands"]
               if c.get("verb") in ("DATA", "BDAT") and (c.get("reply_code") or 0) >= 500]
    assert len(outside) <= len(refused)
    written = [(tmp_path / r["file"]).read_bytes() for r in messages
               if (int(r["session_id"]), int(r["message_index"])) not in outside]
    assert written == [m["bytes"] for m in sent]
    attached = [r["sha256"] for r in rows if r["kind"] == "attachment"]
    truth = [a["sha256"] for m in sent for a in m.get("attachments", [])]
    assert sorted(attached) == sorted(truth)
    for row in rows:
        assert _sha256(tmp_path / row["file"]) == row["sha256"]


# -- Zeek's own extraction --------------------------------------------------------------------------
def _zeek_message_files() -> list:
    """(capture, baseline folder) for Zeek's rfc822 message-file tests (files.cut with a sha1)."""
    params = []
    for cut in zeek_baselines("files.cut"):
        _, rows = read_zeek_tsv(cut)
        if any(r.get("mime_type") == "message/rfc822" and r.get("sha1", "-") != "-" for r in rows):
            case = cut.parent.parent.parent.name
            params.append(pytest.param(case, cut, id=f"{case}/{cut.parent.name}"))
    if not params:
        params.append(pytest.param(None, None, marks=pytest.mark.skip(reason=f"{ZEEK} is absent")))
    return params


@pytest.mark.shared
@pytest.mark.parametrize("case, cut", _zeek_message_files())
def test_eml_sha1_equals_zeeks_whole_message_file(case, cut, tmp_path):
    _, rows = read_zeek_tsv(cut)
    zeek_sha1 = [r["sha1"] for r in rows if r["mime_type"] == "message/rfc822"]
    capture = zeek_capture(case)
    summary = extract(mail_of(capture), tmp_path)
    ours = [r["sha1"] for r in _manifest(summary.manifest) if r["kind"] == "message"]
    assert ours == zeek_sha1
    sizes = [int(r["seen_bytes"]) for r in rows if r["mime_type"] == "message/rfc822"]
    assert [m.data.size for m in mail_of(capture)] == sizes
    extracted = cut.parent / "extract_files.mail"
    if extracted.is_file():  # Zeek's own extraction of the (one) message: byte for byte
        assert (tmp_path / "messages" / "00000-0.eml").read_bytes() == extracted.read_bytes()


@pytest.mark.shared
def test_gap_message_is_extracted_like_zeek_does(tmp_path):
    """A BDAT chunk with 1000 bytes lost: the .eml holds the 100 captured bytes (nothing invented),
    exactly what Zeek extracted, and the manifest says the message is incomplete."""
    case = "smtp_smtp-bdat-gap"
    expected = ZEEK / case / "expected" / "scripts.base.protocols.smtp.rfc822-msg-file-analysis-gap"
    if not expected.is_dir():
        pytest.skip(f"{expected} is absent")
    summary = extract(mail_of(zeek_capture(case)), tmp_path)
    rows = [r for r in _manifest(summary.manifest) if r["kind"] == "message"]
    assert [r["complete"] for r in rows] == ["False", "True"]
    assert (tmp_path / rows[0]["file"]).read_bytes() == (expected / "extract_files.mail").read_bytes()
