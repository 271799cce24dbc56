#!/usr/bin/python3
"""Times the character Transformer's training step: the nnc binary built from
examples/char_gpt.nn against the same model in PyTorch (byte embedding 256 x
128 without bias, a learned [128, 128] position table, 4 pre-norm blocks of
LayerNorm, 4-head causal self-attention from one 128 -> 384 projection,
128 -> 128 output projection, LayerNorm, 128 -> 512 GELU (tanh) 512 -> 128;
a final LayerNorm and a 128 -> 256 head; Adam 1e-3, windows of 128 bytes of
the fortunes, the same batch and thread count), in alternating runs within
one invocation, and prints ms/step (median and spread) with the ratio. Also
times `nnc build`.

Then the model's quality: `char_gpt train --steps N` (N = --train-steps,
one epoch is ~500 steps of batch 32), and its test loss in nats per byte
against the unigram baseline: the entropy of the byte distribution of all
the fortunes (the loss of a model that ignores the context; the split only
changes its third decimal).

PyTorch runs twice per round, each time in a fresh process: as installed
("torch"), and with glibc's malloc told to keep freed memory ("torch-tuned");
common.py says why. The tuned figure is the fair one to beat; both are shown.

usage: /usr/bin/python3 bench/char_gpt_vs_torch.py [--build-dir build] [--repeats 3] [--steps 20]
       [--batches 32] [--threads 1,2] [--train-steps 500]
"""
import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import common

FORTUNES = "/usr/share/games/fortunes"
T, D, H, V, LAYERS = 128, 128, 4, 256, 4


def fortune_bytes():
    """Every category file of the fortunes (what fortunes-chars:all reads),
    CR dropped, in name order."""
    names = sorted(n for n in os.listdir(FORTUNES)
                   if "." not in n and not os.path.islink(os.path.join(FORTUNES, n))
                   and os.path.isfile(os.path.join(FORTUNES, n)))
    return b"".join(open(os.path.join(FORTUNES, n), "rb").read().replace(b"\r", b"") for n in names)


def unigram_nats(text):
    counts = [0] * 256
    for b in text:
        counts[b] += 1
    n = len(text)
    return -sum(c / n * math.log(c / n) for c in counts if c)


def torch_gpt(torch, batch, threads, **trainer_args):
    """The same model as examples/char_gpt.nn, trained the same way."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
            self.fc, self.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)
            self.register_buffer("mask", torch.triu(torch.ones(T, T, dtype=torch.bool), 1))

        def forward(self, h):
            b = h.shape[0]
            q, k, v = self.qkv(self.ln1(h)).split(D, dim=-1)
            q, k, v = (t.view(b, T, H, D // H).transpose(1, 2) for t in (q, k, v))  # [B, H, T, D/H]
            s = (q @ k.transpose(-1, -2)) * (D // H) ** -0.5
            a = s.masked_fill(self.mask, float("-inf")).softmax(-1) @ v
            h = h + self.proj(a.transpose(1, 2).reshape(b, T, D))
            return h + self.out(F.gelu(self.fc(self.ln2(h)), approximate="tanh"))

    class Gpt(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(V, D)
            self.pos = nn.Parameter(torch.randn(T, D) * 0.02)
            self.blocks = nn.Sequential(*[Block() for _ in range(LAYERS)])
            self.ln, self.head = nn.LayerNorm(D), nn.Linear(D, V)

        def forward(self, x):
            return self.head(self.ln(self.blocks(self.tok(x) + self.pos)))

    return CharTrainer(torch, Gpt(), batch, **trainer_args)


class CharTrainer(common.TorchTrainer):
    """common.TorchTrainer's timing on consecutive windows of the fortunes:
    x = 128 bytes, y = the bytes after them."""

    WARMUP = 20  # fewer than the MLP's 300: a step here is ~1000x longer

    def __init__(self, torch, model, batch, warmup=None):
        import numpy as np
        self.torch, self.model = torch, model
        self.opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.loss = torch.nn.CrossEntropyLoss()
        text = np.frombuffer(fortune_bytes(), np.uint8).astype(np.int64)
        n = (len(text) - 1) // T // batch
        x = torch.from_numpy(text[:n * batch * T].reshape(n, batch, T).copy())
        y = torch.from_numpy(text[1:n * batch * T + 1].reshape(n, batch, T).copy())
        self.xs, self.ys = list(x), list(y)
        self.warm(self.WARMUP if warmup is None else warmup)

    def _step(self, i):
        x, y = self.xs[i % len(self.xs)], self.ys[i % len(self.ys)]
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.model(x).reshape(-1, V), y.reshape(-1))
        loss.backward()
        self.opt.step()


def main():
    if common.torch_worker(sys.argv, torch_gpt):
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_args(ap, "32")
    ap.set_defaults(repeats=3, steps=20)
    ap.add_argument("--train-steps", type=int, default=500, help="steps of the quality run (0: skip it)")
    args = ap.parse_args()

    import torch

    tmp = tempfile.mkdtemp(prefix="nnc-bench-")
    binary = os.path.join(tmp, "char_gpt")
    common.build(os.path.join(args.build_dir, "nnc"), os.path.join(common.ROOT, "examples", "char_gpt.nn"), binary)
    common.compare(torch, binary, __file__, args)
    if args.train_steps <= 0:
        return
    base = unigram_nats(fortune_bytes())
    batch = int(args.batches.split(",")[0])
    t0 = time.perf_counter()
    out = subprocess.run([binary, "train", "--steps", str(args.train_steps), "--batch", str(batch), "--val-split",
                          "0", "--quiet", "--checkpoint", os.path.join(tmp, "gpt.safetensors")],
                         check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    m = re.search(r"test_loss: ([0-9.]+)", out)
    if not m:
        sys.exit("unexpected output of %s train:\n%s" % (binary, out))
    loss = float(m.group(1))
    print("\nafter %d steps of batch %d (%.0f s, all cores): test loss %.4f nats/byte (%.3f bits); unigram"
          " baseline %.4f nats/byte (%.3f bits); %.2f nats/byte below it"
          % (args.train_steps, batch, wall, loss, loss / math.log(2), base, base / math.log(2), base - loss))
    sample = subprocess.run([binary, "sample", "--checkpoint", os.path.join(tmp, "gpt.safetensors"), "--prompt",
                             "The ", "--length", "300", "--temperature", "0.8", "--seed", "1"],
                            check=True, capture_output=True).stdout
    print("\nsample (--prompt 'The ' --temperature 0.8 --seed 1):\n" + sample.decode("utf-8", "replace"))


if __name__ == "__main__":
    main()
