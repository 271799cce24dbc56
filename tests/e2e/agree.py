"""Do two training runs agree up to f32 rounding? For the e2e tests that
build one model two ways that may only change the order of a sum (a GEMM
engine, scan-hoist, one GEMM for a batch of summed products):

  agree.py TESTS_DIR WHAT A.safetensors B.safetensors TOL [A.csv B.csv LOSS_TOL]

Every tensor of the two checkpoints (parameters and optimizer state) must
be finite and within TOL of the tensor's largest magnitude in B, and, with
the logs (`train --log`), every logged step's loss within LOSS_TOL of B's
(relative). A wrong gradient is off by far more than rounding, amplified
by a few Adam steps. Exits non-zero with the first tensor or step that
differs; prints the worst differences otherwise."""
import csv
import sys

sys.path.insert(0, sys.argv[1])
import numpy as np  # noqa: E402
import safetensors_np  # noqa: E402


def step_losses(path):
    with open(path) as f:
        return np.array([float(r["loss"]) for r in csv.DictReader(f) if r["kind"] == "step"])


def main(argv):
    what, pa, pb, tol = argv[2], argv[3], argv[4], float(argv[5])
    a, b = safetensors_np.load(pa), safetensors_np.load(pb)
    if sorted(a) != sorted(b):
        sys.exit(f"FAIL: {what}: the checkpoints hold different tensors: {sorted(a)} vs {sorted(b)}")
    worst = 0.0
    for name in sorted(a):
        x, y = np.asarray(a[name], np.float64), np.asarray(b[name], np.float64)
        err = np.abs(x - y).max(initial=0.0) / max(np.abs(y).max(initial=0.0), 1e-30)
        worst = max(worst, err)
        if not np.all(np.isfinite(x)) or err > tol:
            sys.exit(f"FAIL: {what}: {name} differs by {err:.2e} of the tensor's scale (tolerance {tol:g})")
    said = f"{what}: {len(a)} tensors within {worst:.1e} of their scale"
    if len(argv) > 6:
        la, lb, ltol = step_losses(argv[6]), step_losses(argv[7]), float(argv[8])
        if len(la) == 0 or len(la) != len(lb):
            sys.exit(f"FAIL: {what}: {len(la)} and {len(lb)} logged steps")
        d = np.abs(la - lb) / np.abs(lb)
        if not np.all(d <= ltol):
            s = int(np.argmax(d > ltol))
            sys.exit(f"FAIL: {what}: step {s + 1} loss {la[s]} vs {lb[s]} (tolerance {ltol:g})")
        said += f", {len(la)} step losses within {d.max():.1e}"
    print(said)


main(sys.argv)
