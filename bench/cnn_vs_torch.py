#!/usr/bin/python3
"""Times the Fashion-MNIST CNN training step: the nnc binary built from
examples/fashion_cnn.nn against the same model in PyTorch (Conv2d(1, 32, 3),
ReLU, MaxPool2d(2), Flatten, Linear(5408, 64), ReLU, Linear(64, 10); Adam
1e-3, the same data, batch and thread count), in alternating runs within one
invocation, and prints ms/step (median and spread) with the ratio. Also times
`nnc build` and one nnc training epoch, and estimates the training part of
an epoch on each side from the table (844 steps of batch 64 at the median
ms/step with the most threads).

PyTorch runs twice per round, each time in a fresh process: as installed
("torch"), and with glibc's malloc told to keep freed memory ("torch-tuned");
common.py says why. The tuned figure is the fair one to beat; both are shown.

usage: /usr/bin/python3 bench/cnn_vs_torch.py [--build-dir build] [--repeats 7] [--steps 200]
"""
import argparse
import os
import sys
import tempfile

import common


def torch_cnn(torch, batch, threads, **trainer_args):
    """The same model as examples/fashion_cnn.nn, trained the same way."""
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5408, 64),
                          nn.ReLU(), nn.Linear(64, 10))
    return common.TorchTrainer(torch, model, batch, threads, input_shape=(1, 28, 28), **trainer_args)


def main():
    if common.torch_worker(sys.argv, torch_cnn):
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_args(ap, "64")
    args = ap.parse_args()

    import torch

    tmp = tempfile.mkdtemp(prefix="nnc-bench-")
    binary = os.path.join(tmp, "cnn")
    common.build(os.path.join(args.build_dir, "nnc"), os.path.join(common.ROOT, "examples", "fashion_cnn.nn"), binary)
    medians = common.compare(torch, binary, __file__, args)
    steps = -(-54000 // 64)
    for (batch, threads), (n, t, tt) in medians.items():
        if batch == 64 and threads == max(medians)[1]:
            print("\nan epoch's %d training steps of batch 64 at %d threads, from the medians: nnc %.2f s,"
                  " torch %.2f s, torch-tuned %.2f s (torch-tuned/nnc %.2fx)"
                  % (steps, threads, n * steps / 1e3, t * steps / 1e3, tt * steps / 1e3, tt / n))
    if not args.no_epoch:
        common.epoch(binary, tmp, "fashion_cnn")


if __name__ == "__main__":
    main()
