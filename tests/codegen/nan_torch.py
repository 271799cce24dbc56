#!/usr/bin/python3
"""nan_torch.py TEST_CODEGEN — the NaN cases of `test_codegen nan` against
PyTorch.

test_codegen's group "nan" (test_nan.c) runs each op on fixed inputs with
NaN, infinities and ties, checks the generated code against the
interpreter, and prints the inputs ("nan <case> in <i> <values>") and the
generated code's results ("nan <case> out <r> <values>": the op's result,
then, for a differentiable op, the gradient of sum(y * w) with respect to
input 0, w = 1, 1.5, 2, ...). Here PyTorch computes the same from the
printed inputs; every value must match (NaN where PyTorch has NaN, within
1e-5 relative elsewhere). Exit 0 when all match."""
import math
import subprocess
import sys

import torch
import torch.nn.functional as F

SHAPES = {"rows": (4, 3), "pool": (1, 1, 4, 6), "wide": (2, 32)}


def shape_of(case, n):
    if case in ("max", "softmax"):
        return SHAPES["rows"]
    if case.endswith("_wide"):
        return SHAPES["wide"]
    if case.startswith("maxpool2d"):
        return SHAPES["pool"]
    return (2, 6) if n == 12 else (n,)


def step(x):
    # relu's derivative as PyTorch computes it: threshold_backward(1, x, 0)
    return torch.ops.aten.threshold_backward(torch.ones_like(x), x, 0)


OPS = {
    "relu": torch.relu,
    "step": step,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "elu": lambda x: F.elu(x, 1.0),
    "exp": torch.exp,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "tanh_saturated": torch.tanh,
    "softplus": F.softplus,
    "max": lambda x: torch.amax(x, 1),
    "softmax": lambda x: torch.softmax(x, 1),
    "softmax_wide": lambda x: torch.softmax(x, 1),
    "log_softmax_wide": lambda x: F.log_softmax(x, 1),
    "maxpool2d": lambda x: F.max_pool2d(x, 2, 2),
    "maxpool2d_overlap": lambda x: F.max_pool2d(x, 3, 1),
    "eq": lambda a, b: torch.eq(a, b).float(),
    "ne": lambda a, b: torch.ne(a, b).float(),
    "lt": lambda a, b: torch.lt(a, b).float(),
    "le": lambda a, b: torch.le(a, b).float(),
    "gt": lambda a, b: torch.gt(a, b).float(),
    "ge": lambda a, b: torch.ge(a, b).float(),
    "where": lambda c, a, b: torch.where(c != 0, a, b),
}


def same(got, want):
    if math.isnan(want):
        return math.isnan(got)
    if math.isinf(want):
        return got == want
    return abs(got - want) <= 1e-5 * (1 + abs(want))


def main():
    run = subprocess.run([sys.argv[1], "nan"], capture_output=True, text=True)
    print(run.stdout.splitlines()[-1] if run.stdout else "(no output)")
    if run.returncode != 0:
        print(run.stdout)
        print("FAIL: test_codegen nan failed")
        return 1
    ins, outs = {}, {}
    for line in run.stdout.splitlines():
        w = line.split()
        if len(w) < 4 or w[0] != "nan":
            continue
        vals = [float(v) for v in w[4:]]
        (ins if w[2] == "in" else outs).setdefault(w[1], {})[int(w[3])] = vals
    bad = 0
    for case, fn in OPS.items():
        if case not in ins or case not in outs:
            print(f"FAIL {case}: not printed by test_codegen")
            bad += 1
            continue
        xs = [torch.tensor(ins[case][i], dtype=torch.float32).reshape(shape_of(case, len(ins[case][i])))
              for i in sorted(ins[case])]
        xs[0].requires_grad_(True)
        y = fn(*xs)
        want = [y.detach().reshape(-1).tolist()]
        if 1 in outs[case]:  # the gradient of sum(y * w)
            w = torch.tensor([1 + 0.5 * k for k in range(y.numel())]).reshape(y.shape)
            (y * w).sum().backward()
            want.append(xs[0].grad.reshape(-1).tolist())
        for r, wv in enumerate(want):
            got = outs[case].get(r, [])
            wrong = [k for k in range(len(wv)) if k >= len(got) or not same(got[k], wv[k])]
            what = "result" if r == 0 else "gradient"
            if wrong or len(got) != len(wv):
                bad += 1
                print(f"FAIL {case} {what}: nnc {got} torch {wv} (differ at {wrong})")
            else:
                print(f"ok   {case} {what}: {got}")
    print(f"{len(OPS)} cases, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
