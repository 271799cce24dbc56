#!/usr/bin/python3
"""Times the fortunes text classifiers' training step: the nnc binary built
from examples/text_lstm.nn or examples/text_bilstm_dropout.nn against the
same model in PyTorch (nn.Embedding, nn.LSTM with batch_first, the
bidirectional ones with bidirectional=True, nn.Dropout; Adam 1e-3; the same
batch of 32 sequences and thread count), in alternating runs within one
invocation: ms/step (median and spread) with the ratio, and the time of
`nnc build`. The PyTorch side times batches of random word ids: an LSTM's
cost does not depend on which words it reads.

Then the quality: `train` with the example's settings (its epochs, its data
spec), the test accuracy against the majority-class rate of the test split.

PyTorch runs as installed ("torch") and with glibc's malloc tuned
("torch-tuned"); common.py says why.

usage: /usr/bin/python3 bench/text_vs_torch.py --model text_lstm|text_bilstm_dropout
       [--build-dir build] [--repeats 5] [--steps 50] [--threads 1,2] [--no-epoch]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import common

# model name: (sequence length, classes, embedding dim, ((units, bidirectional), ...), dropout)
MODELS = {
    "text_lstm": (64, 2, 64, ((64, False), (64, False)), 0.0),
    "text_bilstm_dropout": (48, 5, 128, ((128, True), (64, True)), 0.5),
}


class TextTrainer(common.TorchTrainer):
    """common.TorchTrainer's timing on batches of random word ids."""
    WARMUP = 30
    STEP_WARMUP = 5

    def __init__(self, torch, name, batch, threads, warmup=None):
        T, C, E, layers, drop = MODELS[name]
        nn = torch.nn
        self.torch = torch

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(10000, E)
                dims, mods = E, []
                for units, bi in layers:
                    mods.append(nn.LSTM(dims, units, batch_first=True, bidirectional=bi))
                    dims = units * (2 if bi else 1)
                self.lstms = nn.ModuleList(mods)
                self.drop = nn.Dropout(drop)
                self.head = nn.Linear(dims, 1 if C == 2 else C)

            def forward(self, x):
                h = self.emb(x)
                for i, lstm in enumerate(self.lstms):
                    out, (hn, _) = lstm(h)
                    last = i == len(self.lstms) - 1
                    if not last:
                        h = self.drop(out) if drop else out
                    else:  # the last state of each direction, as nnc's lstm returns
                        h = torch.cat([hn[-2], hn[-1]], 1) if lstm.bidirectional else hn[-1]
                return self.head(self.drop(h) if drop else h)

        self.model = Net()
        self.binary = C == 2
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(0)
        self.xs = [torch.randint(0, 10000, (batch, T), generator=g) for _ in range(16)]
        self.ys = [torch.randint(0, C, (batch,), generator=g) for _ in range(16)]
        self.warm(self.WARMUP if warmup is None else warmup)

    def _step(self, i):
        x, y = self.xs[i % 16], self.ys[i % 16]
        self.opt.zero_grad(set_to_none=True)
        out = self.model(x)
        if self.binary:
            loss = self.torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], y.float())
        else:
            loss = self.torch.nn.functional.cross_entropy(out, y)
        loss.backward()
        self.opt.step()


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--torch-worker":
        import torch
        name, batch, threads, steps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        print(TextTrainer(torch, name, batch, threads).step_ms(steps))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODELS), required=True)
    common.add_args(ap, "32")
    ap.set_defaults(repeats=5, steps=50)
    args = ap.parse_args()

    import torch

    tmp = tempfile.mkdtemp(prefix="nnc-bench-")
    binary = os.path.join(tmp, args.model)
    common.build(os.path.join(args.build_dir, "nnc"), os.path.join(common.ROOT, "examples", args.model + ".nn"),
                 binary)
    # common.compare runs `script --torch-worker BATCH THREADS STEPS`: pass the model through the environment.
    os.environ["NNC_BENCH_TEXT_MODEL"] = args.model
    common.compare(torch, binary, __file__, args)
    if args.no_epoch:
        return
    data = subprocess.run([binary, "data"], check=True, capture_output=True, text=True).stdout
    majority = re.findall(r"majority rate: ([0-9.]+)", data)[-1]  # the test split's
    t0 = time.perf_counter()
    out = subprocess.run([binary, "train", "--quiet"], check=True, capture_output=True, text=True).stdout
    acc = re.search(r"test_acc: ([0-9.]+)", out).group(1)
    print("\n%s: train with the example's settings in %.1f s: test accuracy %s, majority-class rate %s"
          % (args.model, time.perf_counter() - t0, acc, majority))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--torch-worker":  # common.torch_step_ms's call
        sys.argv.insert(2, os.environ["NNC_BENCH_TEXT_MODEL"])
    main()
