"""check_safetensors.py CKPT DATA_DIR ACC — reads a checkpoint written by
libnnrt the way Python's safetensors does (the same validation rules as its
reference Rust reader), then recomputes the fake model's test accuracy from
the raw tensors with numpy and compares it with the accuracy `eval` printed.
With NNRT_CHECK_TORCH=1 the product is computed by torch instead (slow to
import, so not the default)."""
import gzip
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "I32": "<i4", "F64": "<f8", "I64": "<i8"}


def load(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n <= 100_000_000 and 8 + n <= len(raw), "bad header length"
    assert (8 + n) % 8 == 0, "data section not 8-byte aligned"
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    data = raw[8 + n :]
    end = 0
    tensors = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, e = info["data_offsets"]
        assert b == end, f"{name}: not contiguous ({b} != {end})"
        dt = np.dtype(DTYPES[info["dtype"]])
        count = int(np.prod(info["shape"], dtype=np.int64))
        assert e - b == count * dt.itemsize, f"{name}: size mismatch"
        tensors[name] = np.frombuffer(data[b:e], dt).reshape(info["shape"])
        end = e
    assert end == len(data), "tensors do not cover the data section"
    return tensors, meta


def idx(path):
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw[4 + 4 * ndim :], np.uint8).reshape(dims)


def find(data, name):
    return f"{data}/{name}.gz" if os.path.exists(f"{data}/{name}.gz") else f"{data}/{name}"


def main():
    path, data, acc = sys.argv[1], sys.argv[2], float(sys.argv[3])
    t, meta = load(path)
    assert set(t) == {"w", "b", "w.m", "w.v", "b.m", "b.v", "opt.step"}, sorted(t)
    assert meta.get("format") == "nnrt" and int(meta["global_step"]) > 0, meta
    x = idx(find(data, "t10k-images-idx3-ubyte")).reshape(-1, 784).astype(np.float32) / 255
    y = idx(find(data, "t10k-labels-idx1-ubyte"))
    if os.environ.get("NNRT_CHECK_TORCH") == "1":
        import torch

        w, b = torch.from_numpy(t["w"].copy()), torch.from_numpy(t["b"].copy())
        pred = (torch.from_numpy(x) @ w + b).argmax(1).numpy()
        who = "torch"
    else:
        pred = (x @ t["w"] + t["b"]).argmax(1)
        who = "numpy"
    mine = float((pred == y).mean())
    print(f"python ({who}) reads the checkpoint: test accuracy {mine:.4f}, eval said {acc:.4f}")
    if abs(mine - acc) > 0.0006:
        print("FAIL: accuracy differs")
        sys.exit(1)


main()
