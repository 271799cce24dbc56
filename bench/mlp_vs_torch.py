#!/usr/bin/python3
"""Times the Fashion-MNIST MLP training step: the nnc binary against the same
model in PyTorch (same architecture, batch, optimizer and thread count), in
alternating runs within one invocation, and prints ms/step (median and
spread) with the ratio. Also times `nnc build` and one training epoch.

usage: /usr/bin/python3 bench/mlp_vs_torch.py [--build-dir build] [--repeats 7] [--steps 200]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_spread(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[0], xs[-1]


def nnc_step_ms(binary, batch, threads, steps):
    out = subprocess.run([binary, "bench", "--batch", str(batch), "--threads", str(threads),
                          "--steps", str(steps)], check=True, capture_output=True, text=True).stdout
    m = re.search(r"ms_per_step\s+([0-9.]+)", out)
    if not m:
        sys.exit("unexpected output of %s bench:\n%s" % (binary, out))
    return float(m.group(1))


def load_fashion_mnist(root="/usr/share/datasets/fashion-mnist"):
    """The training images as float32 [N, 784] in [0, 1] and labels int64 [N]."""
    import gzip
    import numpy as np
    with gzip.open(os.path.join(root, "train-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
    with gzip.open(os.path.join(root, "train-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return x, y


class TorchMLP:
    """The same model as examples/fashion_mlp.nn, trained the same way."""

    def __init__(self, torch, batch, threads):
        self.torch = torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss = torch.nn.CrossEntropyLoss()
        # The same data as `nnc bench`: consecutive batches of the real
        # training set, pixels scaled to [0, 1].
        x, y = load_fashion_mnist()
        nb = len(x) // batch
        self.xs = [torch.from_numpy(x[i * batch:(i + 1) * batch]) for i in range(nb)]
        self.ys = [torch.from_numpy(y[i * batch:(i + 1) * batch]) for i in range(nb)]
        # PyTorch needs a few hundred steps before its allocator and thread
        # pool settle (the first steps are 2-5x slower); nnc's bench warms up
        # too, so neither side is timed cold.
        for i in range(300):
            self._step(i)

    def step_ms(self, steps):
        torch = self.torch
        for i in range(20):  # warm up, as nnc's bench does
            self._step(i)
        t0 = time.perf_counter()
        for i in range(steps):
            self._step(i)
        return (time.perf_counter() - t0) * 1e3 / steps

    def _step(self, i):
        x, y = self.xs[i % len(self.xs)], self.ys[i % len(self.ys)]
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.model(x), y)
        loss.backward()
        self.opt.step()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batches", default="64,256")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--no-epoch", action="store_true", help="skip the one-epoch timing")
    args = ap.parse_args()

    import torch

    nnc = os.path.join(args.build_dir, "nnc")
    model = os.path.join(ROOT, "examples", "fashion_mlp.nn")
    tmp = tempfile.mkdtemp(prefix="nnc-bench-")
    binary = os.path.join(tmp, "mlp")

    builds = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([nnc, "build", model, "-O2", "-o", binary], check=True)
        builds.append(time.perf_counter() - t0)
    b = median_spread(builds)
    print("nnc build -O2 of fashion_mlp.nn: %.2f s (median of 3; %.2f..%.2f)" % b)
    print("torch %s, %d cores; %d repeats of %d steps each, alternating nnc / torch\n"
          % (torch.__version__, os.cpu_count(), args.repeats, args.steps))

    print("%-6s %-7s  %-24s  %-24s  %s" % ("batch", "threads", "nnc ms/step (min..max)", "torch ms/step (min..max)", "torch/nnc"))
    for batch in [int(x) for x in args.batches.split(",")]:
        for threads in [int(x) for x in args.threads.split(",")]:
            tm = TorchMLP(torch, batch, threads)
            ns, ts = [], []
            for _ in range(args.repeats):
                ns.append(nnc_step_ms(binary, batch, threads, args.steps))
                ts.append(tm.step_ms(args.steps))
            n, t = median_spread(ns), median_spread(ts)
            print("%-6d %-7d  %6.3f (%.3f..%.3f)      %6.3f (%.3f..%.3f)      %.2fx"
                  % (batch, threads, n[0], n[1], n[2], t[0], t[1], t[2], t[0] / n[0]))

    if not args.no_epoch:
        log = os.path.join(tmp, "epoch.csv")
        t0 = time.perf_counter()
        out = subprocess.run([binary, "train", "--epochs", "1", "--quiet", "--log", log], check=True,
                             capture_output=True, text=True)
        wall = time.perf_counter() - t0
        rows = [line.split(",") for line in open(log) if line.startswith(("epoch,", "test,"))]
        epoch = next(r for r in rows if r[0] == "epoch")
        test = next(r for r in rows if r[0] == "test")
        print("\none epoch of fashion_mlp (54,000 samples, batch 64, all cores): %s s training + validation"
              " (%.2f s for the whole process, including loading the data); test accuracy %s"
              % (epoch[7].strip(), wall, test[4]))


if __name__ == "__main__":
    main()
