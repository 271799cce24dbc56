# loss_fell.awk — reads a training CSV log (kind,epoch,step,loss,...) and
# fails unless at least 200 steps were logged and the mean loss of the last
# 20 steps is below `ratio` (default 0.7) times that of the first 20.
# usage: awk -F, [-v ratio=R] -f loss_fell.awk log.csv
$1 == "step" { n++; loss[n] = $4 }
END {
  if (ratio == "") ratio = 0.7
  if (n < 200) { print "FAIL: only " n " steps logged"; exit 1 }
  for (i = 1; i <= 20; i++) { a += loss[i]; b += loss[n - 20 + i] }
  a /= 20; b /= 20
  printf "mean loss, first 20 steps: %.4f, last 20 steps: %.4f\n", a, b
  if (!(b < ratio * a)) { print "FAIL: the loss did not fall below " ratio "x"; exit 1 }
}
