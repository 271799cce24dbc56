#!/usr/bin/python3
"""Test accuracy against sparsity: each example trained dense and with
--prune=unstructured:S (the default schedule: from 0 to S over the first 75 %
of training, masks recomputed every 1 %), the same seed and epochs, then
evaluated on the Fashion-MNIST test set. Prints a table and writes the
numbers as CSV (model, target sparsity, measured sparsity of the pruned
weights as `eval` reports it, test accuracy, its change from dense, training
seconds) for docs/optimize.md and its chart. The sparsity is over the weights
the default prunes (the CNN: dense_1.w only, 346 112 of its 347 040 weights;
its first convolution and last dense layer stay dense, passes/prune.c).
bench/prune_sparsity.csv holds one run of the first command below, on a busy
2-core machine (train_seconds are not comparable between rows).

  /usr/bin/python3 bench/prune_sparsity.py --models fashion_mlp,fashion_cnn --out prune_sparsity.csv
  /usr/bin/python3 bench/prune_sparsity.py --models fashion_mlp --epochs 2    # shorter than the train block
"""
import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT  # noqa: E402


def run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def one(nnc, model, sparsity, epochs, tmp):
    exe = os.path.join(tmp, "%s_%g" % (model, sparsity))
    cmd = [nnc, "build", os.path.join(ROOT, "examples", model + ".nn"), "-o", exe]
    if sparsity > 0:
        cmd.append("--prune=unstructured:%g" % sparsity)
    run(cmd, tmp)
    ckpt = exe + ".safetensors"
    train = [exe, "train", "--quiet", "--checkpoint", ckpt] + (["--epochs", str(epochs)] if epochs else [])
    t0 = time.perf_counter()
    run(train, tmp)
    secs = time.perf_counter() - t0
    out = run([exe, "eval", "--checkpoint", ckpt], tmp)
    acc = float(re.search(r"test_acc: ([0-9.]+)", out).group(1))
    m = re.search(r"^sparsity: .* - all ([0-9.]+)$", out, re.M)
    return acc, float(m.group(1)) if m else 0.0, secs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="fashion_mlp,fashion_cnn", help="examples, comma-separated")
    ap.add_argument("--sparsities", default="0.5,0.8,0.9,0.95", help="targets besides dense, comma-separated")
    ap.add_argument("--epochs", type=int, default=0, help="epochs to train (default: the train block's)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default="prune_sparsity.csv", help="CSV of the numbers")
    a = ap.parse_args()
    nnc = os.path.join(a.build_dir, "nnc")
    rows = []
    print("%-14s %8s %9s %9s %7s %8s" % ("model", "target", "sparsity", "test_acc", "delta", "train_s"), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models.split(","):
            dense = None
            for s in [0.0] + [float(x) for x in a.sparsities.split(",")]:
                acc, measured, secs = one(nnc, model, s, a.epochs, tmp)
                dense = acc if dense is None else dense
                rows.append({"model": model, "epochs": a.epochs or "train block", "target": s, "sparsity": measured,
                             "test_acc": acc, "delta_points": round(100 * (acc - dense), 2), "train_seconds": round(secs, 1)})
                print("%-14s %8.2f %9.3f %9.4f %+7.2f %8.1f" % (model, s, measured, acc, 100 * (acc - dense), secs),
                      flush=True)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
