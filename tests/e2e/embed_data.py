"""Data for tests/e2e/embed_dropout.nn: ids of a 10000-word vocabulary, 20
per sample, where class c is told by the id c * 100 + 5 in the first place.
Writes DIR/{train,test}_{x,y}.npy; with BAD, also BAD/test_{x,y}.npy, the
test split with one id (sample 3, place 5) past the vocabulary.
usage: embed_data.py DIR SEED NTRAIN NTEST [BAD]
(tests/e2e/embed_dropout.sh, tests/e2e/split_workspace.sh)"""
import sys

import numpy as np

out, seed, ntrain, ntest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
bad = sys.argv[5] if len(sys.argv) > 5 else None
r = np.random.default_rng(seed)
for split, n in (("train", ntrain), ("test", ntest)):
    y = r.integers(0, 3, n).astype(np.int32)
    x = r.integers(0, 10000, (n, 20)).astype(np.int32)
    x[:, 0] = y * 100 + 5
    np.save(f"{out}/{split}_x.npy", x)
    np.save(f"{out}/{split}_y.npy", y)
    if split == "test" and bad:
        x[3, 5] = 10003
        np.save(f"{bad}/test_x.npy", x)
        np.save(f"{bad}/test_y.npy", y)
