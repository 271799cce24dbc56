#!/usr/bin/python3
"""Draws test accuracy against sparsity, one line per model, from the CSV
bench/prune_sparsity.py writes, as a self-contained SVG (no plotting library:
the chart is a few lines and axes, drawn with svg.py). Each model's dense accuracy minus 1.5
points, the goal of docs/optimize.md, is drawn dashed in the model's colour.

  /usr/bin/python3 bench/prune_chart.py bench/prune_sparsity.csv docs/prune_sparsity.svg
"""
import csv
import sys

from svg import Svg

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

    svg = Svg(W, H, LEFT, RIGHT, TOP, BOTTOM, "Fashion-MNIST test accuracy against unstructured sparsity")
    svg.grid_y(range(int(lo), int(hi) + 1), y, lambda t: "%d%%" % t)
    for s in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        svg.line("%.1f" % x(s), "%.1f" % x(s), TOP, H - BOTTOM, "#ddd")
        svg.text("%.1f" % x(s), H - BOTTOM + 16, "%d%%" % (s * 100), ' text-anchor="middle"')
    svg.axis_titles("sparsity of the pruned weights", "test accuracy")
    for i, m in enumerate(models):
        c = COLOURS[i % len(COLOURS)]
        pts = sorted((float(r["target"]), float(r["test_acc"]) * 100) for r in rows if r["model"] == m)
        dense = pts[0][1]
        svg.line(LEFT, W - RIGHT, "%.1f" % y(dense - 1.5), "%.1f" % y(dense - 1.5), c, ' stroke-dasharray="5,4"')
        svg.raw('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                % (c, " ".join("%.1f,%.1f" % (x(s), y(a)) for s, a in pts)))
        for s, a in pts:
            svg.raw('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s %g%%: %.2f%%</title></circle>'
                    % (x(s), y(a), c, m, s * 100, a))
        ly = TOP + 20 + 40 * i
        svg.line(W - RIGHT + 15, W - RIGHT + 40, ly, ly, c, ' stroke-width="2"')
        svg.text(W - RIGHT + 45, ly + 4, m)
        svg.line(W - RIGHT + 15, W - RIGHT + 40, ly + 16, ly + 16, c, ' stroke-dasharray="5,4"')
        svg.text(W - RIGHT + 45, ly + 20, "dense - 1.5 pt", ' font-size="10"')
    svg.save(dst)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: prune_chart.py SPARSITY.csv OUT.svg")
    main(sys.argv[1], sys.argv[2])
