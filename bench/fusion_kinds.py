#!/usr/bin/python3
"""The training step of an example built with each kind of fusion, side by
side in one run: --no-fuse, --fuse=vertical (chains and reductions: what nnc
fused before issue 8), and the default (vertical, horizontal: every
parameter's update in one dispatch, and GEMM epilogues where built in), and
optionally a second compiler (--before path/to/old/nnc) as built.

Each build's `bench` runs in its own process, alternating builds every
round, so that the machine's drift (other jobs, turbo) spreads over all of
them; the table gives the median and the spread of the rounds and each
build's ratio to the default build.

  /usr/bin/python3 bench/fusion_kinds.py --model fashion_mlp --batch 64 --threads 2
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, median_spread, nnc_step_ms  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="fashion_mlp", help="an example's name (examples/<model>.nn)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--before", help="another nnc to build the model with (e.g. an older checkout's)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    nnc = os.path.join(a.build_dir, "nnc")
    src = os.path.join(ROOT, "examples", a.model + ".nn")
    builds = [("default", nnc, []), ("--fuse=vertical", nnc, ["--fuse=vertical"]),
              ("--fuse=<all four kinds>", nnc, ["--fuse=vertical,horizontal,epilogue,shared"]),
              ("--no-fuse", nnc, ["--no-fuse"])]
    if a.before:
        builds.append(("before (%s)" % a.before, a.before, []))
    with tempfile.TemporaryDirectory() as tmp:
        bins = []
        for i, (name, compiler, flags) in enumerate(builds):
            out = os.path.join(tmp, "m%d" % i)
            subprocess.run([compiler, "build", src, "-o", out] + flags, check=True, capture_output=True)
            bins.append(out)
        times = [[] for _ in builds]
        for _ in range(a.rounds):
            for i, b in enumerate(bins):
                times[i].append(nnc_step_ms(b, a.batch, a.threads, a.steps))
    print("%s, batch %d, %d threads, %d rounds of %d steps (median, min..max ms per step)"
          % (a.model, a.batch, a.threads, a.rounds, a.steps))
    base = median_spread(times[0])[0]
    for (name, _, _), t in zip(builds, times):
        med, lo, hi = median_spread(t)
        print("  %-28s %9.3f ms  (%.3f..%.3f)  %5.2fx the default's time" % (name, med, lo, hi, med / base))


if __name__ == "__main__":
    main()
