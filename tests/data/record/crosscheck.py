"""Cross-check sidecars against their captures with tshark: every clear-text
command line and every clear-text message (dot-stuffed for DATA, first 500 bytes
for BDAT) must appear in the client->server byte stream of its session.

    python tests/data/record/crosscheck.py tests/data/smtp-*.json captures/smtp-sample.json
"""
import base64
import collections
import json
import subprocess
import sys
from pathlib import Path

problems_total = 0
for js in sys.argv[1:]:
    d = json.load(open(js))
    cap = str(Path(js).with_name(d["capture"]))
    out = subprocess.run(["tshark","-n","-r",cap,"-Y","tcp.len>0","-T","fields","-e","tcp.srcport","-e","tcp.dstport","-e","tcp.payload"],capture_output=True,text=True).stdout
    streams = collections.defaultdict(bytes)
    for l in out.splitlines():
        sp, dp, pl = l.split("\t")
        streams[(int(sp), int(dp))] += bytes.fromhex(pl)
    ok = bad = 0
    for s in d["sessions"]:
        cport = s["client_addr"][1] if s["client_addr"] else None
        c2s = streams.get((cport, s["server_addr"][1]), b"")
        if not c2s: bad += 1; print("  no stream for", cap, s["id"]); continue
        for m in s["messages"]:
            if "data_b64" not in m or m["encrypted"]: continue
            data = base64.b64decode(m["data_b64"])
            if m["transfer"] == "DATA":
                lines = data.split(b"\r\n")[:-1]
                wire = b"".join((b"." + x if x.startswith(b".") else x) + b"\r\n" for x in lines) + b".\r\n"
            else:
                wire = data[:500]
            if wire in c2s: ok += 1
            else: bad += 1; print("  MISMATCH", cap, s["id"], m.get("headers",{}).get("subject"))
        for c in s["commands"]:
            if c["kind"] == "command" and not c["encrypted"] and (c["line"].encode() + b"\r\n") not in c2s:
                bad += 1; print("  CMD missing", cap, c["line"])
    print(f"{cap}: {ok} messages verified, {bad} problems")
    problems_total += bad
sys.exit(1 if problems_total else 0)
