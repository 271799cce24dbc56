#!/bin/sh
# device_test.sh — a CUDA binary's session without a GPU.
#
#   device_test.sh mirror CPU_BIN DOUBLE_BIN DATA_DIR CPU_PRUNE DOUBLE_PRUNE
#     CPU_BIN: fake_model.c + libnnrt.a; DOUBLE_BIN: the same model built as
#     a CUDA binary (FAKE_CUDA) with the test-double device
#     (device_double.c), whose memory is apart from the host's. Train,
#     checkpoint, --resume (also from the other target's checkpoint), --init,
#     eval, predict, bench and the NaN guard
#     must give byte-identical files and the same output on both; the
#     globals must cross only when the host needs them. CPU_PRUNE and
#     DOUBLE_PRUNE: the model with a pruning mask on a schedule (FAKE_PRUNE):
#     the masks, the pruned weights and the sparsity reports must agree too.
#   device_test.sh nodevice CUDA_BIN DATA_DIR
#     CUDA_BIN: the same model linked with libnnrt_cuda.a (the real
#     runtime). On this GPU-less machine every command that needs the device
#     says "no CUDA device: ..." and exits 1, also with the toolkit's stub
#     libcuda on LD_LIBRARY_PATH (it must load libcuda.so.1, the driver's
#     name, which the stubs lack); --help and --version work; the binary
#     links no CUDA library and no OpenBLAS.
# Exits 77 (skipped) without Fashion-MNIST (mirror) or with a GPU (nodevice).
set -u
MODE=$1
. "$(dirname "$0")/expect.sh"
test_dir nnrt_dev

# same NAME ARGS...: runs both binaries with ARGS ("@" stands for a
# per-binary directory), each exit code and stdout must match, and stderr
# too but for the device double's log lines and the epoch lines' timings.
same() {
  name=$1
  shift
  for b in cpu dev; do
    mkdir -p "$T/$b"
    bin=$CPU
    [ $b = dev ] && bin=$DEV
    args=""
    for a in "$@"; do
      args="$args '$(printf '%s' "$a" | sed "s|@|$T/$b|g")'"
    done
    eval "NNRT_TEST_DEVICE_LOG=1 \"$bin\" $args" >"$T/$b/$name.out" 2>"$T/$b/$name.err"
    echo $? >"$T/$b/$name.rc"
    grep '^device double:' "$T/$b/$name.err" >"$T/$b/$name.log"
    grep -v '^device double:' "$T/$b/$name.err" | sed "s|$T/$b|DIR|g; s|$(basename "$bin")|PROG|g; s| - [0-9][0-9hms.]* ([0-9]* samples/s)\$||" \
      >"$T/$b/$name.msg"
  done
  for f in rc out msg; do
    if ! cmp -s "$T/cpu/$name.$f" "$T/dev/$name.$f"; then
      fail "$name: the CUDA session's $f differs from the CPU's"
      diff "$T/cpu/$name.$f" "$T/dev/$name.$f" | head -8 | sed 's/^/    /'
    fi
  done
}

# files_same A B...: the files each binary wrote are identical.
files_same() {
  for f in "$@"; do
    if ! cmp -s "$T/cpu/$f" "$T/dev/$f"; then
      fail "$f differs between the CPU and the CUDA session"
    fi
  done
}

# log_has NAME LINE: the double's transfer log of run NAME has LINE.
log_has() {
  if ! grep -qxF -- "device double: $2" "$T/dev/$1.log"; then
    fail "$1: the device log lacks '$2'"
    sed 's/^/    /' "$T/dev/$1.log"
  fi
}

case $MODE in
mirror)
  CPU=$2
  DEV=$3
  DATA=$4
  need_fashion "$DATA"
  # 40 steps with a checkpoint and a log; the partial last batch of the
  # test set (10000 = 78 x 128 + 16) runs a second shape.
  same train train --steps 40 --batch 128 --quiet --data "$DATA" --checkpoint @/c.st --log @/log.csv
  files_same c.st
  for b in cpu dev; do cut -d, -f1-7,9- "$T/$b/log.csv" >"$T/$b/log.txt"; done # all but the seconds
  files_same log.txt
  log_has train "the device arena+0: 1 up, 1 down" # up once before step 1, down once for the save
  log_has train "1 device allocations"         # one arena for everything, sized once
  # the serial path (NNRT_CUDA_PREFETCH=0: no batch goes up while a step
  # runs) gives the same files; it uploads its batches to one slot, the
  # overlapped run to two
  NNRT_CUDA_PREFETCH=0 NNRT_TEST_DEVICE_LOG=1 "$DEV" train --steps 40 --batch 128 --quiet --data "$DATA" \
    --checkpoint "$T/dev/serial.st" 2>"$T/dev/serial.err" || fail "serial: exit $?"
  files_same_as() { cmp -s "$T/dev/$1" "$T/dev/$2" || fail "$2 differs from $1"; }
  files_same_as c.st serial.st
  upload_places() { grep -c '^device double: .*: [1-9][0-9]* up, 0 down$' "$1"; }
  if [ "$(upload_places "$T/dev/train.log")" -ne $(($(upload_places "$T/dev/serial.err") + 2)) ]; then
    fail "the overlapped run does not upload its batches to a second slot"
    grep '^device double' "$T/dev/train.log" "$T/dev/serial.err" | sed 's/^/    /'
  fi
  # --steps 20 then --resume to 40: the same file as the uninterrupted run
  same half train --steps 20 --batch 128 --quiet --data "$DATA" --checkpoint @/r.st
  same resume train --steps 40 --batch 128 --quiet --data "$DATA" --checkpoint @/r.st --resume
  files_same r.st
  if ! cmp -s "$T/dev/c.st" "$T/dev/r.st"; then fail "resumed CUDA session's checkpoint differs from the uninterrupted one"; fi
  # --resume across targets: 20 steps on one, resumed to 40 on the other,
  # both ways; each ends as the uninterrupted run
  for from in cpu dev; do
    to=dev first=$CPU second=$DEV
    [ $from = dev ] && to=cpu first=$DEV second=$CPU
    "$first" train --steps 20 --batch 128 --quiet --data "$DATA" --checkpoint "$T/$from/x.st" 2>/dev/null ||
      fail "cross: the $from binary's 20 steps failed"
    "$second" train --steps 40 --batch 128 --quiet --data "$DATA" --checkpoint "$T/$from/x.st" --resume 2>/dev/null ||
      fail "cross: the $to binary could not resume the $from binary's checkpoint"
    cmp -s "$T/cpu/c.st" "$T/$from/x.st" || fail "cross: $from 20 steps + $to 20 steps differs from 40 steps on one target"
  done
  # --init, a full epoch with validation (the checkpoint saved at its end)
  same init train --epochs 1 --steps 60 --batch 256 --val-split 0.5 --quiet --data "$DATA" --init @/c.st \
    --checkpoint @/i.st
  files_same i.st
  same eval eval --checkpoint @/c.st --data "$DATA" --batch 1000
  log_has eval "the device arena+0: 1 up, 0 down"
  same predict predict --checkpoint @/c.st --data "$DATA" --input "$DATA/t10k-images-idx3-ubyte.gz" --proba
  expect 0 "ms_per_step" "$DEV" bench --steps 3 --batch 64 --data "$DATA"
  # the NaN guard: the same exit 3 and message, the checkpoint untouched
  cp "$T/cpu/c.st" "$T/cpu/n.st"
  cp "$T/dev/c.st" "$T/dev/n.st"
  same nan train --lr 3e38 --batch 128 --data "$DATA" --checkpoint @/n.st --resume --epochs 3 --quiet
  files_same n.st
  grep -q "loss is NaN" "$T/dev/nan.msg" || fail "nan: no NaN guard message"
  # devices: only 0 exists in the double; the CPU binary has none to choose
  expect 1 "no CUDA device: --device 1, but this test double has 1 CUDA device (0 to 0)" \
    "$DEV" train --device 1 --steps 1 --data "$DATA"
  expect 2 "option '--device' chooses a GPU, but this binary runs on the CPU" "$CPU" train --device 0
  expect 2 "--device: expected a device number from 0 to 1023, got 'x'" "$DEV" eval --device x --checkpoint c
  expect 0 "--device N" "$DEV" train --help
  # pruning: masks recomputed from the device's weights at steps 0, 5, ...,
  # 20, the sparsity reported after the epoch and by eval
  CPU=$5
  DEV=$6
  same prune train --epochs 1 --steps 40 --batch 128 --data "$DATA" --checkpoint @/p.st
  files_same p.st
  for b in cpu dev; do grep '^sparsity:' "$T/$b/prune.err" >"$T/$b/sparsity.txt"; done
  files_same sparsity.txt
  grep -q "sparsity: w 0.500" "$T/dev/sparsity.txt" || fail "prune: no 'sparsity: w 0.500' line"
  same prune_eval eval --checkpoint @/p.st --data "$DATA" --batch 1000
  grep -q "sparsity: w 0.500" "$T/dev/prune_eval.out" || fail "prune_eval: no 'sparsity: w 0.500' line"
  if "$CPU" train --help | grep -q -- "--device"; then fail "the CPU binary's help mentions --device"; fi
  ;;
nodevice)
  BIN=$2
  DATA=$3
  if [ -e /dev/nvidiactl ]; then
    echo "SKIP: this machine has an NVIDIA driver"
    exit 77
  fi
  for cmd in "train --steps 1" "eval --checkpoint x.st" "bench --steps 1" "predict --checkpoint x.st --input x.npy"; do
    # shellcheck disable=SC2086
    expect 1 "no CUDA device: cannot load the NVIDIA driver (libcuda.so.1: cannot open shared object file" \
      "$BIN" $cmd --data "$DATA"
    # shellcheck disable=SC2086
    expect 1 "no CUDA device: cannot load the NVIDIA driver (libcuda.so.1" \
      env LD_LIBRARY_PATH=/usr/local/cuda/lib64/stubs "$BIN" $cmd --data "$DATA"
  done
  expect 1 "error: no CUDA device:" "$BIN" train --device 3
  expect 0 "--device N" "$BIN" train --help
  expect 0 "CUDA kernels and cuBLASLt" "$BIN" --version
  if command -v readelf >/dev/null; then
    readelf -d "$BIN" | grep NEEDED >"$T/needed"
    if grep -qiE 'cuda|cublas|openblas|nvrtc' "$T/needed"; then
      fail "the CUDA binary links a library it must load itself or not need:"
      cat "$T/needed"
    fi
  fi
  ;;
*)
  unknown_mode
  ;;
esac

finish "$MODE"
