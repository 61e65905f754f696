#!/usr/bin/env python3
"""Profile smtpsniff's read + reassembly path (the ``smtpsniff`` peer of bench_streams) with cProfile.

    python benchmarks/profile_streams.py [CAPTURE] [--top 25] [--sort tottime]

Prints the functions that cost the most, and saves the raw profile to
``benchmarks/work/profile-streams.prof`` (open it with ``python -m pstats`` or snakeviz).
cProfile adds roughly a constant cost per call, so it overstates small, often-called functions:
read the ranking, not the absolute seconds, and compare with the unprofiled ``main loop s``.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import WORK  # noqa: E402
from peers import smtpsniff_streams  # noqa: E402  (also puts the repository on sys.path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("capture", nargs="?", type=Path, default=WORK / "mixed.pcap")
    p.add_argument("--top", type=int, default=25, help="rows to print (default 25)")
    p.add_argument("--sort", default="tottime", choices=("tottime", "cumulative", "ncalls"))
    p.add_argument("--out", type=Path, default=WORK / "profile-streams.prof")
    args = p.parse_args(argv)
    import smtpsniff.streams  # noqa: F401  - imports are not what is profiled

    prof = cProfile.Profile()
    prof.enable()
    report = smtpsniff_streams(str(args.capture))
    prof.disable()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    prof.dump_stats(args.out)
    text = io.StringIO()
    pstats.Stats(prof, stream=text).strip_dirs().sort_stats(args.sort).print_stats(args.top)
    print(json.dumps(report))
    print(text.getvalue())
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
