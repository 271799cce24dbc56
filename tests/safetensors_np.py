"""Reading and writing safetensors files with numpy alone (the JSON header
and raw little-endian data, as the safetensors library does), for the
Python tests that exchange checkpoints with nnc binaries: float32 tensors
only, which is what nnc writes for parameters and optimizer state."""
import json
import struct

import numpy as np


def save(path, tensors):
    """Writes {name: array} as float32 tensors."""
    header, blobs, at = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(a)), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load(path):
    """{name: float32 array} of every tensor in the file."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", name
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + b : 8 + n + e], "<f4").reshape(info["shape"]).copy()
    return out
