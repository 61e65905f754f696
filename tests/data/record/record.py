#!/usr/bin/env python3
"""Record real SMTP traffic on loopback into small capture files + ground truth.

    sudo python tests/data/record/record.py --out tests/data            # everything
    sudo python tests/data/record/record.py --out tests/data --only smtp-basic smtp-bdat

Needs root (packet capture, ports 25/465/587), Debian packages tcpdump, tshark
(dumpcap, capinfos), swaks, postfix, openssl, and python aiosmtpd.
Only 127.0.0.1 / ::1 are ever contacted.  See README.md beside this file.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from rec_common import Sniffer, Transcript, capinfo, write_truth  # noqa: E402
from rec_servers import Postfix, start_aiosmtpd  # noqa: E402
import rec_scenarios as sc  # noqa: E402

REPO = HERE.parent.parent.parent


class Ctx:
    def __init__(self, out: Path, sample_out: Path, work: Path):
        self.out = out
        self.sample_out = sample_out
        self.work = work
        from rec_common import make_cert
        self.crt, self.key = make_cert(work)
        self.tls = (self.crt, self.key)
        self.keylogs = work / "keylogs"
        self.keylogs.mkdir(exist_ok=True)


# ---------------------------------------------------------------------------
# layer captures: one short complete session with one message
# ---------------------------------------------------------------------------
def _layer(ctx: Ctx, name: str, *, host="127.0.0.1", port=25, iface="lo", tool="tcpdump",
           nano=False, desc=""):
    path = ctx.out / name
    with ExitStack() as st:
        srv = start_aiosmtpd(host, port)
        st.callback(srv.stop)
        with Sniffer(path, f"tcp port {port}", iface=iface, tool=tool, nano=nano):
            tr = sc.basic_session(host, port)
    write_truth(path.with_suffix(".json") if path.suffix != ".pcapng" else
                path.with_name(path.name + ".json"), path, desc, [tr],
                extra={"link": {"iface": iface, "tool": tool,
                                "ts_precision": "ns" if nano else "us"}})
    return path


def rec_basic(ctx):
    return _layer(ctx, "smtp-basic.pcap", desc="tcpdump -i lo, classic pcap with microsecond "
                  "timestamps, Ethernet link type; one EHLO/MAIL/RCPT/DATA/QUIT session on port 25")


def rec_basic_ns(ctx):
    return _layer(ctx, "smtp-basic-ns.pcap", nano=True,
                  desc="as smtp-basic.pcap but nanosecond pcap (magic a1b23c4d)")


def rec_basic_ng(ctx):
    return _layer(ctx, "smtp-basic.pcapng", tool="dumpcap",
                  desc="as smtp-basic.pcap but pcapng written by dumpcap -i lo")


def rec_sll2(ctx):
    return _layer(ctx, "smtp-any-sll2.pcap", iface="any",
                  desc="tcpdump -i any: LINUX_SLL2 link type; one session on port 25")


def rec_ipv6(ctx):
    return _layer(ctx, "smtp-ipv6.pcap", host="::1",
                  desc="one session over IPv6 ::1 port 25, tcpdump -i lo")


# ---------------------------------------------------------------------------
# protocol captures
# ---------------------------------------------------------------------------
def _truth_path(path: Path) -> Path:
    return path.with_suffix(".json")


def rec_features(ctx):
    path = ctx.out / "smtp-features.pcap"
    with ExitStack() as st:
        for port in (2525, 25):
            st.callback(start_aiosmtpd("127.0.0.1", port).stop)
        with Sniffer(path, "tcp port 2525 or tcp port 25"):
            trs = sc.features(ctx)
    write_truth(_truth_path(path), path, sc.features.__doc__, trs)
    return path


def rec_auth(ctx):
    path = ctx.out / "smtp-auth.pcap"
    with ExitStack() as st:
        st.callback(start_aiosmtpd("127.0.0.1", 587, auth=True, tls=ctx.tls).stop)
        with Sniffer(path, "tcp port 587"):
            trs = sc.auth(ctx)
    write_truth(_truth_path(path), path, sc.auth.__doc__, trs,
                extra={"credentials_db": sc.USERS_PUBLIC})
    return path


def rec_starttls(ctx):
    path = ctx.out / "smtp-starttls.pcap"
    keylog = ctx.out / "smtp-starttls.keys"
    keylog.unlink(missing_ok=True)
    with ExitStack() as st:
        st.callback(start_aiosmtpd("127.0.0.1", 587, auth=True, tls=ctx.tls).stop)
        with Sniffer(path, "tcp port 587"):
            trs = sc.starttls(ctx, keylog)
    write_truth(_truth_path(path), path, sc.starttls.__doc__, trs,
                extra={"tls_keylog": keylog.name})
    return path


def rec_implicit(ctx):
    path = ctx.out / "smtp-implicit-tls.pcap"
    keylog = ctx.out / "smtp-implicit-tls.keys"
    keylog.unlink(missing_ok=True)
    with ExitStack() as st:
        st.callback(start_aiosmtpd("127.0.0.1", 465, auth=True, tls=ctx.tls, implicit_tls=True).stop)
        with Sniffer(path, "tcp port 465"):
            trs = sc.implicit_tls(ctx, keylog)
    write_truth(_truth_path(path), path, sc.implicit_tls.__doc__, trs,
                extra={"tls_keylog": keylog.name})
    return path


def rec_bdat(ctx):
    path = ctx.out / "smtp-bdat.pcap"
    with ExitStack() as st:
        pf = Postfix(ctx.work, sc.POSTFIX_PORT, ctx.crt, ctx.key).start()
        st.callback(pf.stop)
        with Sniffer(path, f"tcp port {sc.POSTFIX_PORT}"):
            trs = sc.bdat(ctx)
    write_truth(_truth_path(path), path, sc.bdat.__doc__, trs,
                extra={"dissect_as_smtp": [sc.POSTFIX_PORT]})
    return path


def rec_utf8(ctx):
    path = ctx.out / "smtp-utf8.pcap"
    with ExitStack() as st:
        pf = Postfix(ctx.work, sc.POSTFIX_PORT, ctx.crt, ctx.key).start()
        st.callback(pf.stop)
        st.callback(start_aiosmtpd("127.0.0.1", 2525).stop)
        with Sniffer(path, f"tcp port {sc.POSTFIX_PORT} or tcp port 2525"):
            trs = sc.utf8(ctx)
    write_truth(_truth_path(path), path, sc.utf8.__doc__, trs,
                extra={"dissect_as_smtp": [sc.POSTFIX_PORT, 2525]})
    return path


def rec_mime(ctx):
    path = ctx.out / "smtp-mime.pcap"
    with ExitStack() as st:
        st.callback(start_aiosmtpd("127.0.0.1", 25).stop)
        with Sniffer(path, "tcp port 25"):
            trs = sc.mime(ctx)
    write_truth(_truth_path(path), path, sc.mime.__doc__, trs)
    return path


def rec_hostile(ctx):
    path = ctx.out / "smtp-hostile-names.pcap"
    with ExitStack() as st:
        st.callback(start_aiosmtpd("127.0.0.1", 25).stop)
        with Sniffer(path, "tcp port 25"):
            trs = sc.hostile_names(ctx)
    write_truth(_truth_path(path), path, sc.hostile_names.__doc__, trs)
    return path


def rec_sample(ctx):
    path = ctx.sample_out / "smtp-sample.pcap"
    keylog = ctx.sample_out / "smtp-sample.keys"
    keylog.unlink(missing_ok=True)
    with ExitStack() as st:
        st.callback(start_aiosmtpd("127.0.0.1", 25, tls=ctx.tls).stop)
        st.callback(start_aiosmtpd("127.0.0.1", 587, auth=True, tls=ctx.tls).stop)
        with Sniffer(path, "tcp port 25 or tcp port 587"):
            trs = sc.sample(ctx, keylog)
    write_truth(_truth_path(path), path, sc.sample.__doc__, trs,
                extra={"tls_keylog": keylog.name, "credentials_db": sc.USERS_PUBLIC})
    return path


def rec_injection(ctx):
    path = ctx.out / "smtp-injection.pcap"
    with ExitStack() as st:
        st.callback(start_aiosmtpd("127.0.0.1", 2525, hostname=sc.HOSTILE_HOSTNAME, ident=sc.HOSTILE_IDENT).stop)
        with Sniffer(path, "tcp port 2525"):
            trs = sc.injection(ctx)
    write_truth(_truth_path(path), path, sc.injection.__doc__, trs, extra={"dissect_as_smtp": [2525]})
    return path


RECORDERS = {
    "smtp-basic": rec_basic,
    "smtp-basic-ns": rec_basic_ns,
    "smtp-basic-ng": rec_basic_ng,
    "smtp-any-sll2": rec_sll2,
    "smtp-ipv6": rec_ipv6,
    "smtp-sample": rec_sample,
    "smtp-features": rec_features,
    "smtp-auth": rec_auth,
    "smtp-starttls": rec_starttls,
    "smtp-implicit-tls": rec_implicit,
    "smtp-bdat": rec_bdat,
    "smtp-utf8": rec_utf8,
    "smtp-mime": rec_mime,
    "smtp-hostile-names": rec_hostile,
    "smtp-injection": rec_injection,
}
from rec_attacks import ATTACK_RECORDERS  # noqa: E402

RECORDERS.update(ATTACK_RECORDERS)


def verify(path: Path, ports: list[int]) -> dict:
    """tshark: SMTP commands seen, and no lost segments."""
    dec = []
    for p in ports:
        if p not in (25, 587, 465):
            dec += ["-d", f"tcp.port=={p},smtp"]
    lost = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "tcp.analysis.lost_segment"] + dec,
                          capture_output=True, text=True).stdout.strip()
    cmds = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "smtp.req.command", "-T", "fields",
                           "-e", "smtp.req.command"] + dec, capture_output=True, text=True).stdout.split()
    return {"lost_segments": len(lost.splitlines()) if lost else 0,
            "smtp_commands": sorted(set(c.upper() for c in ",".join(cmds).split(",") if c))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "tests" / "data"), help="directory for tests/data captures")
    ap.add_argument("--sample-out", default=None,
                    help="directory for captures/smtp-sample.pcap (default: <out>/../../captures)")
    ap.add_argument("--only", nargs="*", choices=sorted(RECORDERS), help="record just these")
    ap.add_argument("--keep-work", action="store_true", help="keep the temporary work dir")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("run as root: capturing on lo and binding ports 25/465/587 need it")
    out = Path(a.out).resolve()
    sample_out = Path(a.sample_out).resolve() if a.sample_out else out.parent.parent / "captures"
    out.mkdir(parents=True, exist_ok=True)
    sample_out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="smtpsniff-record-"))
    ctx = Ctx(out, sample_out, work)
    names = a.only or list(RECORDERS)
    failed = []
    for n in names:
        t0 = time.time()
        try:
            path = RECORDERS[n](ctx)
        except Exception as e:  # keep going, report at the end
            import traceback
            traceback.print_exc()
            failed.append(n)
            continue
        info = capinfo(path)
        truth = json.loads((path.with_name(path.name + ".json") if path.suffix == ".pcapng"
                            else path.with_suffix(".json")).read_text())
        ports = sorted({s["server_addr"][1] for s in truth["sessions"]})
        v = verify(path, ports)
        print(f"{path.name:28s} {info.get('packets', '?'):>5} pkts {path.stat().st_size:>7} B "
              f"{info.get('encapsulation', '?'):<28} lost={v['lost_segments']} "
              f"{time.time() - t0:4.1f}s  cmds={' '.join(v['smtp_commands'])}")
        if v["lost_segments"]:
            failed.append(n)
    if not a.keep_work:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        sys.exit(f"FAILED: {' '.join(failed)}")


if __name__ == "__main__":
    main()
