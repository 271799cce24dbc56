#!/usr/bin/python3
"""Draws test accuracy against sparsity, one line per model, from the CSV
bench/prune_sparsity.py writes, as a self-contained SVG (no plotting library:
the chart is a few lines and axes). Each model's dense accuracy minus 1.5
points, the goal of docs/optimize.md, is drawn dashed in the model's colour.

  /usr/bin/python3 bench/prune_chart.py bench/prune_sparsity.csv docs/prune_sparsity.svg
"""
import csv
import sys

W, H = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 40, 60
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def main(src, dst):
    rows = list(csv.DictReader(open(src)))
    models = []
    for r in rows:
        if r["model"] not in models:
            models.append(r["model"])
    acc = [float(r["test_acc"]) * 100 for r in rows]
    lo, hi = min(acc) - 2.0, max(acc) + 0.5
    lo, hi = float(int(lo)), float(int(hi) + 1)

    def x(s):  # sparsity in [0, 1]
        return LEFT + s * (W - LEFT - RIGHT)

    def y(a):  # accuracy in percent
        return TOP + (hi - a) / (hi - lo) * (H - TOP - BOTTOM)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="12">' % (W, H), '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="14">Fashion-MNIST test accuracy against unstructured sparsity</text>'
           % LEFT]
    for t in range(int(lo), int(hi) + 1):
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (LEFT, W - RIGHT, y(t), y(t)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%d%%</text>' % (LEFT - 6, y(t) + 4, t))
    for s in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#ddd"/>' % (x(s), x(s), TOP, H - BOTTOM))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d%%</text>' % (x(s), H - BOTTOM + 16, s * 100))
    out.append('<text x="%.1f" y="%d" text-anchor="middle">sparsity of the pruned weights</text>'
               % ((LEFT + W - RIGHT) / 2, H - 18))
    out.append('<text transform="translate(18,%.1f) rotate(-90)" text-anchor="middle">test accuracy</text>'
               % ((TOP + H - BOTTOM) / 2))
    for i, m in enumerate(models):
        c = COLOURS[i % len(COLOURS)]
        pts = sorted((float(r["target"]), float(r["test_acc"]) * 100) for r in rows if r["model"] == m)
        dense = pts[0][1]
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="5,4"/>'
                   % (LEFT, W - RIGHT, y(dense - 1.5), y(dense - 1.5), c))
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                   % (c, " ".join("%.1f,%.1f" % (x(s), y(a)) for s, a in pts)))
        for s, a in pts:
            out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s %g%%: %.2f%%</title></circle>'
                       % (x(s), y(a), c, m, s * 100, a))
        ly = TOP + 20 + 40 * i
        out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                   % (W - RIGHT + 15, W - RIGHT + 40, ly, ly, c))
        out.append('<text x="%d" y="%d">%s</text>' % (W - RIGHT + 45, ly + 4, m))
        out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-dasharray="5,4"/>'
                   % (W - RIGHT + 15, W - RIGHT + 40, ly + 16, ly + 16, c))
        out.append('<text x="%d" y="%d" font-size="10">dense - 1.5 pt</text>' % (W - RIGHT + 45, ly + 20))
    out.append("</svg>")
    open(dst, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: prune_chart.py SPARSITY.csv OUT.svg")
    main(sys.argv[1], sys.argv[2])
