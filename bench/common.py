"""Shared pieces of the nnc-vs-PyTorch training benchmarks (the
*_vs_torch.py scripts and run.py, which runs them all): timing an nnc binary's `bench`, the same training step in
PyTorch in fresh processes (as installed and with glibc's malloc tuned), the
alternating side-by-side table, and the one-epoch timing.

Why PyTorch runs twice per round ("torch" and "torch-tuned"): without
MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_, each of PyTorch's temporaries
above glibc's mmap threshold (Adam's 800 KB ones) is a fresh mmap that the
kernel zeroes page by page, and whether that happens depends on the process's
allocation history: the same script measured 0.9 ms or 5 ms per step from one
run to the next. The tuned figure is the fair one to beat; both are shown.
"""
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TORCH_TUNED_ENV = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}


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


class TorchTrainer:
    """A PyTorch model trained the way nnc's bench trains: Adam 1e-3,
    cross-entropy, consecutive batches of the real training set (pixels in
    [0, 1], each image reshaped to input_shape)."""

    WARMUP = 300  # steps in the constructor (see below)
    STEP_WARMUP = 20  # steps step_ms runs before its timer, as nnc's bench warms up

    def __init__(self, torch, model, batch, threads, input_shape=(784,), warmup=None):
        self.torch = torch
        self.model = model
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss = torch.nn.CrossEntropyLoss()
        x, y = load_fashion_mnist()
        nb = len(x) // batch
        self.xs = [torch.from_numpy(x[i * batch:(i + 1) * batch].reshape((-1,) + tuple(input_shape)))
                   for i in range(nb)]
        self.ys = [torch.from_numpy(y[i * batch:(i + 1) * batch]) for i in range(nb)]
        # PyTorch needs a few hundred steps before its allocator and thread
        # pool settle (the first steps are 2-5x slower); nnc's bench warms up
        # too, so neither side is timed cold. bench/run.py passes its own
        # count (fewer where one step takes seconds).
        self.warm(self.WARMUP if warmup is None else warmup)

    def warm(self, steps):
        for i in range(steps):
            self._step(i)

    def step_ms(self, steps, warmup=None):
        self.warm(self.STEP_WARMUP if warmup is None else warmup)
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


def torch_step_ms(script, batch, threads, steps, tuned):
    """Runs one PyTorch measurement of `script --torch-worker` in a fresh
    process; returns ms/step."""
    env = dict(os.environ)
    if tuned:
        env.update(TORCH_TUNED_ENV)
    out = subprocess.run([sys.executable, os.path.abspath(script), "--torch-worker", str(batch), str(threads),
                          str(steps)], check=True, capture_output=True, text=True, env=env).stdout
    return float(out.split()[-1])


def torch_worker(argv, make_trainer):
    """If argv asks for a worker (--torch-worker BATCH THREADS STEPS), times
    make_trainer(torch, batch, threads) and prints ms/step; returns whether
    it did."""
    if len(argv) != 5 or argv[1] != "--torch-worker":
        return False
    import torch
    batch, threads, steps = (int(a) for a in argv[2:])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    print(make_trainer(torch, batch, threads).step_ms(steps))
    return True


def add_args(ap, batches):
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batches", default=batches)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--no-epoch", action="store_true", help="skip the one-epoch timing")


def build(nnc, model, binary):
    """Builds model with -O2 three times; prints the median build time."""
    builds = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([nnc, "build", model, "-O2", "-o", binary], check=True)
        builds.append(time.perf_counter() - t0)
    print("nnc build -O2 of %s: %.2f s (median of 3; %.2f..%.2f)"
          % ((os.path.basename(model),) + median_spread(builds)))


def compare(torch, binary, script, args):
    """The side-by-side table: per (batch, threads), args.repeats rounds of
    nnc, torch, torch-tuned, each in a fresh process. Returns the medians
    {(batch, threads): (nnc, torch, torch-tuned)}."""
    medians = {}
    print("torch %s, %d cores, OpenBLAS kernels: %s; %d repeats of %d steps each, alternating nnc / torch\n"
          % (torch.__version__, os.cpu_count(), os.environ.get("OPENBLAS_CORETYPE", "auto-detected"),
             args.repeats, args.steps))
    print("ms/step: median (min..max); ratios are PyTorch's median over nnc's")
    print("%-5s %-7s  %-22s  %-22s  %-22s  %-6s %s" % ("batch", "threads", "nnc", "torch", "torch-tuned",
                                                       "torch/nnc", "torch-tuned/nnc"))
    for batch in [int(x) for x in args.batches.split(",")]:
        for threads in [int(x) for x in args.threads.split(",")]:
            ns, ts, tts = [], [], []
            for _ in range(args.repeats):
                ns.append(nnc_step_ms(binary, batch, threads, args.steps))
                ts.append(torch_step_ms(script, batch, threads, args.steps, False))
                tts.append(torch_step_ms(script, batch, threads, args.steps, True))
            n, t, tt = median_spread(ns), median_spread(ts), median_spread(tts)
            medians[batch, threads] = (n[0], t[0], tt[0])
            cell = lambda v: "%6.3f (%.3f..%.3f)" % v
            print("%-5d %-7d  %-22s  %-22s  %-22s  %5.2fx    %5.2fx"
                  % (batch, threads, cell(n), cell(t), cell(tt), t[0] / n[0], tt[0] / n[0]), flush=True)
    return medians


def epoch(binary, tmp, name):
    """Times `binary train --epochs 1` (all cores) and prints it."""
    log = os.path.join(tmp, "epoch.csv")
    t0 = time.perf_counter()
    subprocess.run([binary, "train", "--epochs", "1", "--quiet", "--log", log], check=True,
                   capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rows = [line.split(",") for line in open(log) if line.startswith(("epoch,", "test,"))]
    ep = next(r for r in rows if r[0] == "epoch")
    test = next(r for r in rows if r[0] == "test")
    print("\none epoch of %s (54,000 samples, batch 64, all cores): %s s training + validation"
          " (%.2f s for the whole process, including loading the data); test accuracy %s"
          % (name, ep[7].strip(), wall, test[4]))
