#!/usr/bin/python3
"""Times the Fashion-MNIST MLP training step: the nnc binary against the same
model in PyTorch (same architecture, data, batch, optimizer and thread count),
in alternating runs within one invocation, and prints ms/step (median and
spread) with the ratio. Also times `nnc build` and one training epoch.

PyTorch runs twice per round, each time in a fresh process: as installed
("torch"), and with glibc's malloc told to keep freed memory ("torch-tuned");
common.py says why. The tuned figure is the fair one to beat; both are shown.

usage: /usr/bin/python3 bench/mlp_vs_torch.py [--build-dir build] [--repeats 7] [--steps 200]
"""
import argparse
import os
import sys
import tempfile

import common


def torch_mlp(torch, batch, threads, **trainer_args):
    """The same model as examples/fashion_mlp.nn, trained the same way."""
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    return common.TorchTrainer(torch, model, batch, threads, **trainer_args)


def main():
    if common.torch_worker(sys.argv, torch_mlp):
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_args(ap, "64,256")
    args = ap.parse_args()

    import torch

    tmp = tempfile.mkdtemp(prefix="nnc-bench-")
    binary = os.path.join(tmp, "mlp")
    common.build(os.path.join(args.build_dir, "nnc"), os.path.join(common.ROOT, "examples", "fashion_mlp.nn"), binary)
    common.compare(torch, binary, __file__, args)
    if not args.no_epoch:
        common.epoch(binary, tmp, "fashion_mlp")


if __name__ == "__main__":
    main()
