#!/usr/bin/env python3
"""The full SMTP analysis against tshark's SMTP + IMF dissection: throughput and peak memory.

Peers, each in its own process on the same capture, interleaved, ``--repeat`` times (medians):

* ``smtpsniff``: ``smtpsniff.read(FILE)`` - read, decode, reassemble, decode SMTP, build the records,
  parse every message, run the detectors, and build every table (sessions, transactions, recipients,
  commands, replies, messages, attachments, headers, credentials, findings, anomalies).  Its counts
  are checked against make_capture's ground truth.
* ``smtpsniff-cli``: ``smtpsniff analyze FILE`` - the command as users run it, run by the console
  script's own function (``smtpsniff.cli.run``: the program ends without freeing the capture): the
  same analysis but for the credentials and findings tables, which its summary does not show and it
  does not build (``read``'s ``tables``), then the summary; its headline counts and exit status are
  checked.
* ``tshark``: ``tshark -r FILE -Y smtp -T fields -e tcp.stream -e smtp.req.command
  -e smtp.req.parameter -e smtp.response.code -e imf.subject`` to /dev/null - SMTP reassembled and
  dissected, every message through the IMF dissector.

    python benchmarks/make_capture.py && python benchmarks/bench_analyze.py --repeat 2

Writes a Markdown table to stdout and ``benchmarks/work/results-analyze.json``; exits 1 when
smtpsniff's answer is wrong (a fast wrong answer must not look good), 2 on a usage error.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import REPO, WORK, Peer, Run, parse_bench_args, run_benchmark

PEERS_PY = str(Path(__file__).resolve().parent / "peers.py")

PEERS = {
    "smtpsniff": Peer("smtpsniff", "smtpsniff.read(FILE): the full analysis, every table built",
                      (sys.executable, PEERS_PY, "smtpsniff-analyze", "{capture}"), reports=True),
    "smtpsniff-cli": Peer("smtpsniff-cli", "smtpsniff analyze FILE: the tables its summary shows (all but "
                          "credentials and findings) and the printed summary",
                          (sys.executable, PEERS_PY, "smtpsniff-cli", "{capture}"), reports=True),
    "tshark": Peer("tshark", "tshark: dissect every packet, reassemble and dissect SMTP and IMF, print five fields",
                   ("tshark", "-r", "{capture}", "-Y", "smtp", "-T", "fields", "-e", "tcp.stream",
                    "-e", "smtp.req.command", "-e", "smtp.req.parameter", "-e", "smtp.response.code",
                    "-e", "imf.subject")),
}


def check(peer: str, run: Run, truth: dict) -> str:
    """"ok", or what the peer got wrong against the ground truth."""
    if peer == "tshark":
        return "ok"  # output discarded by design; exit status 0 is all there is to check
    rep = run.report
    if rep is None:
        return "no report"
    smtp = truth["smtp"]
    wrong = []

    def same(got: str, want: object, what: str | None = None) -> None:
        if rep.get(got) != want:
            wrong.append(f"{what or got} {rep.get(got)} != {want}")

    same("frames", truth["packets"])
    same("sessions", smtp["connections"], "SMTP sessions")
    # (the CLI's exit status is its process's: a run that does not exit 0 is counted as failed)
    if peer != "smtpsniff-cli":
        # make_capture counts the messages sent in cleartext: DATA sections the server answered
        # with 354 and ended with ".", and BDAT ... LAST, up to STARTTLS.
        same("messages", smtp["messages"])
        same("messages_complete", smtp["messages"], "complete messages")
        same("session_bytes_c2s", smtp["bytes_c2s"], "client bytes")
        same("session_bytes_s2c", smtp["bytes_s2c"], "server bytes")
        want_ports = {k: v for k, v in smtp["connections_by_server_port"].items() if v}
        same("sessions_by_server_port", want_ports, "sessions by port")
        same("gap_bytes", 0, "gap bytes in SMTP sessions (the capture has none)")
        same("reassembly_gaps", 0, "reassembly gaps (the capture has none)")
        if not rep.get("transactions") or rep.get("transactions", 0) < rep.get("messages", 0):
            wrong.append(f"transactions {rep.get('transactions')} < messages {rep.get('messages')}")
    return "ok" if not wrong else "WRONG: " + "; ".join(wrong)


def main(argv: Sequence[str] | None = None) -> int:
    args, names = parse_bench_args(__doc__.split("\n\n")[0], PEERS, WORK / "results-analyze.json", argv)
    results, _ = run_benchmark("analyze", args.capture.resolve(), [PEERS[n] for n in names], subject="smtpsniff",
                                repeat=args.repeat, check=check, out_json=args.out, timeout_s=args.timeout,
                                sources=[REPO / "smtpsniff"])
    wrong = [r.name for r in results if r.name.startswith("smtpsniff") and not r.valid]
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
