"""Checks an int8 model's checkpoint (nnc build --quantize=int8 writes it
beside the binary) against the f32 checkpoint it was quantized from, with
numpy alone: every weight P of a dense (rank 2, [in, out]) or conv2d (rank
4, [F, C, kh, kw]) layer is gone and replaced by P.q (I8), P.scale (F32, one
per output channel: max |w| over the other axes / 127), P.comp (I32: 128 x
the channel's sum of P.q) and P.act_scale (F32 scalar > 0); P.q is
round-half-even(w / scale) clamped to [-127, 127]; the other tensors
(biases) are unchanged. Prints the file sizes.
usage: ptq_weights.py F32.safetensors INT8.safetensors"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402

import safetensors_np  # noqa: E402  tests/safetensors_np.py


def main(f32_path, int8_path):
    f32 = safetensors_np.load(f32_path)
    q, dt = safetensors_np.load(int8_path, dtypes=True)
    fails = []
    quantized = [p for p in f32 if p + ".q" in q]
    if not quantized:
        fails.append("no weight was quantized")
    for p in quantized:
        w = f32[p]
        axis = 1 if w.ndim == 2 else 0
        other = tuple(i for i in range(w.ndim) if i != axis)
        want_dt = {p + ".q": "I8", p + ".scale": "F32", p + ".comp": "I32", p + ".act_scale": "F32"}
        for name, d in want_dt.items():
            if dt.get(name) != d:
                fails.append(f"{name}: dtype {dt.get(name)}, expected {d}")
        if p in q:
            fails.append(f"{p}: the f32 weight is still in the int8 checkpoint")
        scale = np.maximum(np.abs(w).max(axis=other) / np.float32(127), np.float32(1.1920928955078125e-07))
        scale = scale.astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        wq = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(np.int8)
        if not np.array_equal(q[p + ".scale"].ravel(), scale):
            fails.append(f"{p}.scale differs from max|w|/127 (max diff {np.abs(q[p + '.scale'].ravel() - scale).max()})")
        if not np.array_equal(q[p + ".q"], wq):
            fails.append(f"{p}.q differs from round(w / scale) at {int((q[p + '.q'] != wq).sum())} elements")
        comp = 128 * wq.astype(np.int64).sum(axis=other)
        if not np.array_equal(q[p + ".comp"].ravel(), comp):
            fails.append(f"{p}.comp is not 128 x the channel sums of {p}.q")
        s = q.get(p + ".act_scale")
        if s is None or s.shape != () or not (np.isfinite(s) and s > 0):
            fails.append(f"{p}.act_scale: {s!r}, expected a positive f32 scalar")
    for p, a in f32.items():
        if p not in quantized and not (p in q and np.array_equal(q[p], a)):
            fails.append(f"{p}: not carried over unchanged")
    a, b = os.path.getsize(f32_path), os.path.getsize(int8_path)
    print(f"weights on disk: f32 {a} bytes, int8 {b} bytes ({a / b:.2f}x smaller); quantized: {', '.join(quantized)}")
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
