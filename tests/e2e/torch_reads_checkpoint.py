#!/usr/bin/python3
"""torch_reads_checkpoint.py MLP_BINARY CKPT — PyTorch reads a checkpoint
written by an nnc binary and gets the same test accuracy.

Loads the safetensors file with torch (via its JSON header and raw data, as
the safetensors library does), builds the same MLP in PyTorch (nnc's dense
weights are [in, out]; torch.nn.Linear's are [out, in]), evaluates the
Fashion-MNIST test set, and compares with what `MLP eval` prints. Exits 77
(skipped) when torch is not installed."""
import gzip
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

try:
    import numpy as np
    import torch

    import safetensors_np  # tests/safetensors_np.py
except ImportError:
    print("SKIP: python3-torch is not installed")
    sys.exit(77)

DATA = "/usr/share/datasets/fashion-mnist"


def load_safetensors(path):
    return {name: torch.from_numpy(a) for name, a in safetensors_np.load(path).items()}


def main():
    binary, ckpt = sys.argv[1], sys.argv[2]
    t = load_safetensors(ckpt)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    with torch.no_grad():
        model[0].weight.copy_(t["dense_1.w"].T)
        model[0].bias.copy_(t["dense_1.b"])
        model[2].weight.copy_(t["dense_2.w"].T)
        model[2].bias.copy_(t["dense_2.b"])
    with gzip.open(DATA + "/t10k-images-idx3-ubyte.gz") as f:
        x = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255)
    with gzip.open(DATA + "/t10k-labels-idx1-ubyte.gz") as f:
        y = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64))
    with torch.no_grad():
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y).item()
        acc = (logits.argmax(1) == y).float().mean().item()
    out = subprocess.run([binary, "eval", "--checkpoint", ckpt], check=True, capture_output=True, text=True).stdout
    m = re.search(r"test_loss: ([0-9.]+) - test_acc: ([0-9.]+)", out)
    nloss, nacc = float(m.group(1)), float(m.group(2))
    print("torch: loss %.4f acc %.4f; nnc eval: loss %.4f acc %.4f" % (loss, acc, nloss, nacc))
    if abs(acc - nacc) > 1.5e-4 or abs(loss - nloss) > 1e-3:
        print("FAIL: PyTorch and nnc disagree on the checkpoint")
        sys.exit(1)


if __name__ == "__main__":
    main()
