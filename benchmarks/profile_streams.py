#!/usr/bin/env python3
"""Profile smtpsniff's read + reassembly path (the ``smtpsniff`` peer of bench_streams) with cProfile.

    python benchmarks/profile_streams.py [CAPTURE] [--top 25] [--sort tottime]
    python benchmarks/profile_streams.py [CAPTURE] --stages     # CPU seconds added by each stage

Prints the functions that cost the most, and saves the raw profile to
``benchmarks/work/profile-streams.prof`` (open it with ``python -m pstats`` or snakeviz).
cProfile adds roughly a constant cost per call, so it overstates small, often-called functions:
read the ranking, not the absolute seconds, and compare with the unprofiled ``main loop s``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import WORK, profile_peer, run_child
from peers import smtpsniff_streams

#: Each stage does everything the previous one did, plus one layer.
STAGES = ("read", "decode", "reassemble", "pipeline")


def run_stage(stage: str, path: str) -> dict:
    """One stage over the whole capture, in this process; its main-loop CPU seconds."""
    import time

    from smtpsniff.capture.files import open_capture
    from smtpsniff.net.decode import PacketDecoder
    from smtpsniff.net.segment import TcpSegment
    from smtpsniff.reassembly.table import TcpReassembler
    from smtpsniff.streams import StreamPipeline, stream_events

    started = time.process_time()
    n = 0
    with open_capture(path) as reader:
        if stage == "read":
            for _ in reader:
                n += 1
        elif stage == "decode":
            decode = PacketDecoder().decode
            for frame in reader:
                decode(frame)
                n += 1
        elif stage == "reassemble":
            decode, feed = PacketDecoder().decode, TcpReassembler().feed
            for frame in reader:
                seg = decode(frame)
                if type(seg) is TcpSegment:
                    n += len(feed(seg))
        else:
            for _ in stream_events(reader, StreamPipeline()):
                n += 1
    return {"stage": stage, "cpu_s": round(time.process_time() - started, 3), "items": n}


def stages(capture: Path) -> None:
    print("| stage | main-loop CPU s | added by the stage |\n|---|---:|---:|")
    before = 0.0
    for stage in STAGES:
        run = run_child([sys.executable, __file__, str(capture), "--stage", stage], reports=True)
        if run.returncode or not run.report:
            print(f"| {stage} | failed: {run.error.strip().splitlines()[-1:]} | |")
            return
        cpu = run.report["cpu_s"]
        print(f"| {stage} | {cpu:.2f} | {cpu - before:+.2f} |")
        before = cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("capture", nargs="?", type=Path, default=WORK / "mixed.pcap")
    p.add_argument("--top", type=int, default=25, help="rows to print (default 25)")
    p.add_argument("--sort", default="tottime", choices=("tottime", "cumulative", "ncalls"))
    p.add_argument("--out", type=Path, default=WORK / "profile-streams.prof")
    p.add_argument("--stages", action="store_true", help="time read, +decode, +reassembly, +pipeline separately")
    p.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # one stage, in a child process
    args = p.parse_args(argv)
    if args.stage:
        print(json.dumps(run_stage(args.stage, str(args.capture))))
        return 0
    if args.stages:
        stages(args.capture)
        return 0
    import smtpsniff.streams  # noqa: F401  - imports are not what is profiled

    profile_peer(smtpsniff_streams, args.capture, args.out, sort=args.sort, top=args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
