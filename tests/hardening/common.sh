# Sourced by the hardening tests: helpers shared by the fault sweep and the
# kill loop.

# subset_fashion DIR NTRAIN NTEST: the first NTRAIN training and NTEST test
# samples of Fashion-MNIST as IDX files in DIR (the headers rewritten with
# the new counts), so that a run takes milliseconds.
subset_fashion() {
  _src=/usr/share/datasets/fashion-mnist
  mkdir -p "$1"
  _idx "$_src/train-images-idx3-ubyte.gz" "$1/train-images-idx3-ubyte" 3 "$2" 784
  _idx "$_src/train-labels-idx1-ubyte.gz" "$1/train-labels-idx1-ubyte" 1 "$2" 1
  _idx "$_src/t10k-images-idx3-ubyte.gz" "$1/t10k-images-idx3-ubyte" 3 "$3" 784
  _idx "$_src/t10k-labels-idx1-ubyte.gz" "$1/t10k-labels-idx1-ubyte" 1 "$3" 1
}

# _idx SRC.gz DST RANK N BYTES_PER_SAMPLE
_idx() {
  _be32() { printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"; }
  _skip=$((4 + 4 * $3))
  { printf '\000\000\010'; printf "\\$(printf %03o $((8 * 0 + $3)))"; _be32 "$4"
    if [ "$3" = 3 ]; then _be32 28; _be32 28; fi
    zcat "$1" | tail -c +$((_skip + 1)) | head -c $(($4 * $5)); } > "$2"
}

# No temporary file of checkpoint $1 (F.tmp.XXXXXX) is left.
no_temps() {
  _left=$(ls "$1".tmp.* 2> /dev/null || true)
  [ -z "$_left" ] || { echo "FAIL: temporary files left: $_left"; return 1; }
}
