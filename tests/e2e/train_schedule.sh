#!/bin/sh
# train_schedule.sh — learning-rate schedules, early stopping, --checkpoint-best,
# --validation-data, binary and regression metrics and --plot, end to end:
# small models compiled by nnc on a Fashion-MNIST subset and on synthetic
# binary and regression data (seconds in all).
#   train_schedule.sh NNC SOURCE_DIR
set -eu
NNC=$1
FM=/usr/share/datasets/fashion-mnist
PY=/usr/bin/python3
if [ ! -f "$FM/train-images-idx3-ubyte.gz" ]; then
  echo "SKIP: no Fashion-MNIST"
  exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/nnc_sched.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
fail() {
  echo "FAIL: $*"
  exit 1
}

$PY - "$FM" <<'PY'
import gzip, os, sys, numpy as np
fm = sys.argv[1]
def idx(name, off):
    return np.frombuffer(gzip.open(os.path.join(fm, name)).read(), np.uint8, offset=off)
x = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)[:3600].astype(np.float32) / 255
y = idx("train-labels-idx1-ubyte.gz", 8)[:3600].astype(np.int32)
for d, sl in (("fm", slice(0, 3000)), ("fmval", slice(3000, 3600))):
    os.makedirs(d)
    np.save(f"{d}/train_x.npy", x[sl]); np.save(f"{d}/train_y.npy", y[sl])
    np.save(f"{d}/test_x.npy", x[3000:3500]); np.save(f"{d}/test_y.npy", y[3000:3500])
rng = np.random.default_rng(0)
w = rng.normal(size=4).astype(np.float32)
for d in ("bind", "regd"):
    os.makedirs(d)
    for split, n in (("train", 2000), ("test", 400)):
        xs = rng.normal(size=(n, 4)).astype(np.float32)
        z = xs @ w + 0.5 * rng.normal(size=n).astype(np.float32)
        ys = (z > 0).astype(np.float32) if d == "bind" else (z + 1).astype(np.float32)
        np.save(f"{d}/{split}_x.npy", xs); np.save(f"{d}/{split}_y.npy", ys.reshape(n, 1))
PY

cat >cls.nn <<'NN'
model cls {
  input x: f32[B, 784]
  input y: i32[B]
  logits = dense(x, 10)
  output logits
  minimize cross_entropy(logits, y)
}
train {
  optimizer sgd(lr: 0.1)
  batch 100
  schedule step(every: 2, gamma: 0.5)
}
NN
cat >bin.nn <<'NN'
model bin {
  input x: f32[B, 4]
  input y: f32[B, 1]
  p = dense(x, 1) |> sigmoid
  output p
  minimize binary_cross_entropy(p, y)
}
train {
  optimizer adam(lr: 0.05)
  batch 50
  early_stop val_auc(patience: 5)
}
NN
cat >reg.nn <<'NN'
model reg {
  input x: f32[B, 4]
  input y: f32[B, 1]
  pred = dense(x, 1)
  output pred
  minimize mse(pred, y)
}
train {
  optimizer adam(lr: 0.05)
  batch 50
}
NN
for m in cls bin reg; do "$NNC" build $m.nn -o $m >/dev/null || fail "nnc build $m.nn"; done

# lrs CSV KIND: the lr column of the rows of one kind, one per line.
lrs() { awk -F, -v k="$2" '$1 == k { print $9 }' "$1"; }

# 1. step from the train block: lr x 0.5 every 2 epochs, in the CSV and the epoch lines.
./cls train --data fm --epochs 4 --threads 2 --log step.csv 2>step.err >/dev/null || fail "step schedule run"
[ "$(lrs step.csv epoch | tr '\n' ' ')" = "0.1 0.1 0.05 0.05 " ] || fail "step lrs: $(lrs step.csv epoch | tr '\n' ' ')"
grep -q "lr: 0.05 " step.err || fail "epoch lines lack the lr: $(cat step.err)"
head -1 step.csv | grep -qx "kind,epoch,step,loss,acc,val_loss,val_acc,seconds,lr" || fail "header: $(head -1 step.csv)"

# 2. cosine with warm-up from the command line: every step's lr is the formula's.
./cls train --data fm --epochs 2 --threads 2 --quiet --schedule 'cosine(warmup: 10, min_lr: 0.001)' --log cos.csv \
  >/dev/null || fail "cosine run"
$PY - cos.csv <<'PY' || fail "cosine lrs"
import csv, math, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["kind"] == "step"]
total, warm, base, lo = 2 * 27, 10, 0.1, 0.001  # 2700 training samples / batch 100 = 27 steps an epoch
assert len(rows) == total, len(rows)
for r in rows:
    t = int(r["step"]) - 1
    want = base * (t + 1) / warm if t < warm else lo + (base - lo) * 0.5 * (1 + math.cos(math.pi * (t - warm) / (total - warm - 1)))
    got = float(r["lr"])
    assert abs(got - want) <= 1e-5 * want + 1e-9, (t, got, want)
PY

# 3. plateau: min_delta 100 never improves after epoch 1, so with patience 1 the
#    lr halves after epochs 2 and 3.
./cls train --data fm --epochs 4 --threads 2 --schedule 'plateau(patience: 1, factor: 0.5, min_delta: 100)' \
  --log plat.csv 2>plat.err >/dev/null || fail "plateau run"
[ "$(lrs plat.csv epoch | tr '\n' ' ')" = "0.1 0.1 0.05 0.025 " ] || fail "plateau lrs: $(lrs plat.csv epoch | tr '\n' ' ')"
grep -q "Epoch 2: val_loss has not improved for 1 epochs; learning rate now 0.05" plat.err || fail "plateau message"

# 4. early stopping: nothing improves by 100 after epoch 1, patience 2: stops after epoch 3, exit 0.
./cls train --data fm --epochs 10 --threads 2 --quiet --early-stop 'val_loss(patience: 2, min_delta: 100)' \
  --log stop.csv >stop.out 2>stop.err || fail "early-stopped run exits $?"
[ "$(grep -c '^epoch,' stop.csv)" = 3 ] || fail "early stopping trained $(grep -c '^epoch,' stop.csv) epochs, want 3"
grep -q "early stopping after epoch 3: val_loss has not improved for 2 epochs (best .* at epoch 1)" stop.err ||
  fail "early stopping message: $(cat stop.err)"
grep -q "^test_loss: " stop.out || fail "no test result after early stopping"

# 4b. Early stopping survives --resume: a stopped run stays stopped; with more
#     patience it goes on from its counters (2 epochs without improvement at
#     the stop, so patience 4 stops after epoch 5).
set -- --data fm --epochs 10 --threads 2 --checkpoint es.st --log es.csv
./cls train "$@" --quiet --early-stop 'val_loss(patience: 2, min_delta: 100)' >/dev/null 2>&1 || fail "early stop with checkpoint"
./cls train "$@" --resume --early-stop 'val_loss(patience: 2, min_delta: 100)' >es.out 2>&1 || fail "resume stopped run"
grep -q "early stopping ended this training after epoch 3; nothing to train" es.out || fail "resume stopped: $(cat es.out)"
./cls train "$@" --resume --quiet --early-stop 'val_loss(patience: 4, min_delta: 100)' >es.out 2>&1 || fail "resume more patience"
grep -q "early stopping after epoch 5: val_loss has not improved for 4 epochs (best .* at epoch 1)" es.out ||
  fail "more patience: $(cat es.out)"

# 5. --checkpoint-best keeps the epoch with the lowest val_loss.
./cls train --data fm --epochs 4 --threads 2 --quiet --lr 1.5 --schedule none --checkpoint last.st \
  --checkpoint-best best.st --log best.csv >/dev/null || fail "checkpoint-best run"
$PY - best.csv best.st last.st <<'PY' || fail "best checkpoint"
import csv, json, struct, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["kind"] == "epoch"]
want = min(rows, key=lambda r: float(r["val_loss"]))["epoch"]
def meta(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n])["__metadata__"], b[8 + n:]
m, data = meta(sys.argv[2])
assert m["epoch"] == want, (m["epoch"], want, [r["val_loss"] for r in rows])
assert m["best_monitor"].startswith("val_loss "), m
_, last = meta(sys.argv[3])
assert (data == last) == (want == "4")
PY
if ./cls train --data fm --epochs 1 --checkpoint a.st --checkpoint-best a.st >same.out 2>&1; then fail "same file accepted"; fi
grep -q "is also the --checkpoint file" same.out || fail "same-file message: $(cat same.out)"

# 6. --resume is bit-exact with a stateful schedule and early stopping (stopped mid-epoch 2).
for sched in 'plateau(patience: 0, factor: 0.5, min_delta: 0.01)' 'cosine(warmup: 30)'; do
  set -- --data fm --epochs 3 --threads 2 --quiet --schedule "$sched" --early-stop 'val_acc(patience: 2)'
  ./cls train "$@" --checkpoint full.st --overwrite >/dev/null || fail "full run ($sched)"
  ./cls train "$@" --checkpoint part.st --overwrite --steps 40 >/dev/null || fail "part run ($sched)"
  ./cls train "$@" --checkpoint part.st --resume >/dev/null || fail "resumed run ($sched)"
  cmp -s full.st part.st || fail "resume with $sched is not bit-exact"
done

# 7. --plot: valid SVG with training and validation curves of loss and accuracy.
./cls train --data fm --epochs 3 --threads 2 --quiet --plot curves.svg >/dev/null || fail "plot run"
$PY - curves.svg <<'PY' || fail "plot"
import sys, xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg"
for panel in ("loss", "metric"):
    g = root.find(f"s:g[@id='{panel}']", ns)
    lines = {p.get("class"): p.get("points").split() for p in g.findall("s:polyline", ns)}
    assert set(lines) == {"train", "validation"}, lines
    assert all(len(v) == 3 for v in lines.values()), lines
PY

# 7b. A run cut short and resumed plots all its epochs (the earlier ones from the --log).
set -- --data fm --epochs 3 --threads 2 --quiet --checkpoint r.st --log r.csv --plot r.svg
./cls train "$@" --steps 40 >/dev/null && ./cls train "$@" --resume >/dev/null || fail "plot across resume runs"
$PY - r.svg <<'PY' || fail "plot across resume"
import sys, xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
g = ET.parse(sys.argv[1]).getroot().find("s:g[@id='loss']", ns)
lines = {p.get("class"): p.get("points").split() for p in g.findall("s:polyline", ns)}
assert {k: len(v) for k, v in lines.items()} == {"train": 3, "validation": 3}, lines
PY

# 8. --validation-data: another directory instead of a split.
./cls train --data fm --validation-data fmval --epochs 1 --threads 2 --log vd.csv 2>vd.err >/dev/null ||
  fail "validation-data run"
grep -q "val_loss: " vd.err && grep -q "^epoch,1,30," vd.csv || fail "validation-data: all 3000 samples train: $(cat vd.err)"
if ./cls train --data fm --validation-data fmval --val-split 0.2 >vd2.out 2>&1; then fail "both accepted"; fi
grep -q "give one" vd2.out || fail "validation-data with val-split: $(cat vd2.out)"

# 9. A binary task: precision, recall and AUC in the lines, the CSV and the test result.
./bin train --data bind --epochs 2 --threads 2 --log bin.csv >bin.out 2>bin.err || fail "binary run"
head -1 bin.csv | grep -qx "kind,epoch,step,loss,acc,val_loss,val_acc,seconds,lr,precision,recall,auc,val_precision,val_recall,val_auc" ||
  fail "binary header: $(head -1 bin.csv)"
grep -q "val_auc: 0\.[6-9]" bin.err || fail "binary epoch line: $(cat bin.err)"
grep -q "test_precision: .* - test_recall: .* - test_auc: 0\.[6-9]" bin.out || fail "binary test line: $(cat bin.out)"
$PY - bin.csv <<'PY' || fail "binary metrics out of range"
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    if r["kind"] != "step":
        for k in ("precision", "recall", "auc"):
            assert 0.5 < float(r[k]) <= 1, r
PY

# 10. Regression: MAE; a monitor the task lacks is an error before training.
./reg train --data regd --epochs 2 --threads 2 --log reg.csv >reg.out 2>reg.err || fail "regression run"
head -1 reg.csv | grep -q ",lr,mae,val_mae$" || fail "regression header: $(head -1 reg.csv)"
grep -q "^test_loss: .* - test_mae: " reg.out || fail "regression test line: $(cat reg.out)"
set +e
./reg train --data regd --early-stop val_acc >bad.out 2>&1
rc=$?
set -e
[ $rc = 2 ] && grep -q "early stopping monitors val_acc, which this model's task does not have" bad.out ||
  fail "regression with val_acc: exit $rc, $(cat bad.out)"
echo "ok"
