#!/usr/bin/python3
"""Times the Fashion-MNIST row-LSTM training step: the nnc binary built from
examples/fashion_rows_lstm.nn (each image as 28 steps of 28 pixels,
LSTM(128), Dense 10) against the same model in PyTorch (nn.LSTM(28, 128,
batch_first=True), the last hidden state, nn.Linear(128, 10); Adam 1e-3,
the same data, batch and thread count), in alternating runs within one
invocation: ms/step (median and spread) with the ratio, the time of
`nnc build`, and one nnc training epoch with its test accuracy.

PyTorch runs as installed ("torch") and with glibc's malloc tuned
("torch-tuned"); common.py says why.

usage: /usr/bin/python3 bench/rows_lstm_vs_torch.py [--build-dir build] [--repeats 5] [--steps 100]
"""
import argparse
import os
import sys
import tempfile

import common


def torch_lstm(torch, batch, threads, **trainer_args):
    nn = torch.nn

    class RowLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(28, 128, batch_first=True)
            self.head = nn.Linear(128, 10)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    return common.TorchTrainer(torch, RowLSTM(), batch, threads, input_shape=(28, 28), **trainer_args)


def main():
    if common.torch_worker(sys.argv, torch_lstm):
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_args(ap, "64")
    ap.set_defaults(repeats=5, steps=100)
    args = ap.parse_args()

    import torch

    tmp = tempfile.mkdtemp(prefix="nnc-bench-")
    binary = os.path.join(tmp, "rows_lstm")
    common.build(os.path.join(args.build_dir, "nnc"), os.path.join(common.ROOT, "examples", "fashion_rows_lstm.nn"),
                 binary)
    common.compare(torch, binary, __file__, args)
    if not args.no_epoch:
        common.epoch(binary, tmp, "fashion_rows_lstm")


if __name__ == "__main__":
    main()
