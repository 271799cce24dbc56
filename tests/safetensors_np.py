"""Reading and writing safetensors files with numpy alone (the JSON header
and raw little-endian data, as the safetensors library does), for the
Python tests that exchange checkpoints with nnc binaries: save writes
float32 tensors (nnc's parameters and optimizer state); load reads every
dtype nnc writes (an int8 model's I8 weights and I32 compensations too)."""
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


# safetensors dtype names -> little-endian numpy dtypes (runtime/nnrt_dtypes.def)
DTYPES = {"F32": "<f4", "F64": "<f8", "I8": "i1", "U8": "u1", "I32": "<i4", "I64": "<i8"}


def load(path, dtypes=False):
    """{name: array} of every tensor in the file, in its stored dtype; with
    dtypes, also {name: safetensors dtype name}."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + b : 8 + n + e], DTYPES[info["dtype"]]).reshape(info["shape"]).copy()
    return (out, {k: v["dtype"] for k, v in header.items()}) if dtypes else out
