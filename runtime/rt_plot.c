/* rt_plot.c — `train --plot F.svg`: the epoch history as an SVG file any
 * browser shows: loss on the left, accuracy (MAE for regression) on the
 * right, training and validation curves in each, one point per epoch.
 * Plain SVG 1.1, no scripts or external fonts; rewritten atomically after
 * every epoch, so an interrupted run leaves a plot of what it did. */
#include "nnrt.h"
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int rt_history_add(RtHistory *h, int64_t epoch, const double *values, RtError *e) {
  if (h->n == h->cap) {
    int64_t cap = h->cap ? 2 * h->cap : 16;
    int64_t *ep = realloc(h->epoch, (size_t)cap * sizeof *ep);
    if (ep) h->epoch = ep;
    double(*v)[2 * RT_MET_N] = ep ? realloc(h->v, (size_t)cap * sizeof *v) : NULL;
    if (!v) return rt_fail(e, RT_EXIT_FAIL, "out of memory for the training history");
    h->v = v;
    h->cap = cap;
  }
  h->epoch[h->n] = epoch;
  memcpy(h->v[h->n], values, sizeof h->v[0]);
  h->n++;
  return 0;
}

void rt_history_free(RtHistory *h) {
  free(h->epoch);
  free(h->v);
  memset(h, 0, sizeof *h);
}

int rt_history_load_csv(RtHistory *h, const char *path, int64_t upto, RtError *e) {
  FILE *f = fopen(path, "r");
  if (!f) return 0; /* no log yet: nothing to take */
  char line[4096];
  int col[2 * RT_MET_N], ncols = 0, rc = 0;
  for (int k = 0; k < 2 * RT_MET_N; k++)
    col[k] = -1;
  if (fgets(line, sizeof line, f)) { /* the header names the columns */
    for (char *c = strtok(line, ",\r\n"); c; c = strtok(NULL, ",\r\n"), ncols++) {
      int k = rt_metric_find(c, strlen(c));
      if (k >= 0) col[k] = ncols;
    }
  }
  while (rc == 0 && fgets(line, sizeof line, f)) {
    if (strncmp(line, "epoch,", 6) != 0) continue;
    double field[64];
    int n = 0;
    for (char *c = line; n < 64; n++) { /* empty fields are NaN */
      char *end = c + strcspn(c, ",\r\n");
      field[n] = end > c ? strtod(c, NULL) : NAN;
      if (*end != ',') break;
      c = end + 1;
    }
    int64_t epoch = (int64_t)field[1];
    if (epoch < 1 || epoch > upto) continue;
    double v[2 * RT_MET_N];
    for (int k = 0; k < 2 * RT_MET_N; k++)
      v[k] = col[k] >= 0 && col[k] <= n ? field[col[k]] : NAN;
    /* An epoch cut short and finished after --resume has two rows: the
     * later one is the whole epoch. */
    if (h->n && h->epoch[h->n - 1] == epoch)
      memcpy(h->v[h->n - 1], v, sizeof v);
    else
      rc = rt_history_add(h, epoch, v, e);
  }
  fclose(f);
  return rc;
}

/* A growing text buffer. */
typedef struct Buf {
  char *p;
  size_t n, cap;
  int oom;
} Buf;

static void put(Buf *b, const char *fmt, ...) RT_PRINTF(2, 3);
static void put(Buf *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = b->oom ? 0 : vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (b->oom || (b->p && b->n + (size_t)k < b->cap)) {
      b->n += b->oom ? 0 : (size_t)k;
      return;
    }
    size_t cap = (b->cap + (size_t)k + 1) * 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p, b->cap = cap;
  }
}

/* A step of 1, 2 or 5 times a power of ten giving about `want` ticks. */
static double nice_step(double span, int want) {
  double raw = span / want, p = pow(10, floor(log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

enum { W = 960, H = 400, PW = 400, PH = 280, TOP = 60, LEFT0 = 70, GAP = 480 };

/* One panel: metric met (train) and RT_MET_N + met (validation). */
static void panel(Buf *b, const RtHistory *h, int met, int x0, const char *title) {
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < h->n; i++)
    for (int k = 0; k < 2; k++) {
      double v = h->v[i][met + k * RT_MET_N];
      if (isfinite(v)) lo = v < lo ? v : lo, hi = v > hi ? v : hi;
    }
  if (!(lo <= hi)) lo = 0, hi = 1;
  if (met == RT_MET_ACC && hi <= 1 && lo >= 0 && hi - lo < 0.05) lo = hi - 0.05 < 0 ? 0 : hi - 0.05;
  if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
  double step = nice_step(hi - lo, 5);
  lo = floor(lo / step) * step, hi = ceil(hi / step) * step;
  int64_t e0 = h->n ? h->epoch[0] : 1, e1 = h->n ? h->epoch[h->n - 1] : 1;
  if (e1 == e0) e0--, e1++;
#define X(ep) (x0 + (double)((ep)-e0) / (double)(e1 - e0) * PW)
#define Y(v) (TOP + PH - ((v)-lo) / (hi - lo) * PH)
  put(b, "<g class=\"panel\" id=\"%s\">\n", met == RT_MET_LOSS ? "loss" : "metric");
  put(b, "<text x=\"%d\" y=\"%d\" font-size=\"16\" text-anchor=\"middle\">%s</text>\n", x0 + PW / 2, TOP - 20, title);
  put(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", x0, TOP, PW, PH);
  for (double v = lo; v <= hi + step / 2; v += step) {
    put(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x0, x0 + PW, Y(v), Y(v));
    put(b, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.4g</text>\n", x0 - 6, Y(v) + 4,
        fabs(v) < step / 1e6 ? 0.0 : v);
  }
  double estep = nice_step((double)(e1 - e0), 6);
  if (estep < 1) estep = 1;
  for (double ep = ceil(e0 / estep) * estep; ep <= e1; ep += estep)
    put(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%.0f</text>\n", X(ep), TOP + PH + 16, ep);
  put(b, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">epoch</text>\n", x0 + PW / 2, TOP + PH + 34);
  static const char *const colour[2] = {"#1f77b4", "#ff7f0e"};
  static const char *const label[2] = {"train", "validation"};
  for (int k = 0; k < 2; k++) {
    int col = met + k * RT_MET_N, any = 0;
    for (int64_t i = 0; i < h->n; i++)
      any |= isfinite(h->v[i][col]);
    if (!any) continue;
    put(b, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", label[k], colour[k]);
    for (int64_t i = 0; i < h->n; i++)
      if (isfinite(h->v[i][col])) put(b, "%.1f,%.1f ", X(h->epoch[i]), Y(h->v[i][col]));
    put(b, "\"/>\n");
    for (int64_t i = 0; i < h->n; i++)
      if (isfinite(h->v[i][col]))
        put(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>epoch %lld: %.4f</title></circle>\n",
            X(h->epoch[i]), Y(h->v[i][col]), colour[k], (long long)h->epoch[i], h->v[i][col]);
    /* The legend where curves rarely are: top right for falling ones
     * (loss, MAE), bottom right for rising ones (accuracy). */
    int ly = (rt_metric_higher_better(met) ? TOP + PH - 44 : TOP + 16) + 18 * k;
    put(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>\n", x0 + PW - 110,
        x0 + PW - 90, ly, ly, colour[k]);
    put(b, "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s</text>\n", x0 + PW - 85, ly + 4, label[k]);
  }
  put(b, "</g>\n");
#undef X
#undef Y
}

int rt_plot_svg(const char *path, const char *title, const RtHistory *h, unsigned metrics, RtError *e) {
  Buf b = {0};
  put(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  put(&b,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"sans-serif\">\n",
      W, H, W, H);
  put(&b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  put(&b, "<text x=\"%d\" y=\"22\" font-size=\"18\" text-anchor=\"middle\">", W / 2);
  for (const char *c = title; *c; c++) /* the model's name: an identifier, but escape anyway */
    if (*c == '<' || *c == '>' || *c == '&')
      put(&b, "&#%d;", *c);
    else
      put(&b, "%c", *c);
  put(&b, "</text>\n");
  panel(&b, h, RT_MET_LOSS, LEFT0, "loss");
  if (metrics & (1u << RT_MET_ACC))
    panel(&b, h, RT_MET_ACC, LEFT0 + GAP, "accuracy");
  else if (metrics & (1u << RT_MET_MAE))
    panel(&b, h, RT_MET_MAE, LEFT0 + GAP, "mean absolute error");
  put(&b, "</svg>\n");
  int rc =
      b.oom ? rt_fail(e, RT_EXIT_FAIL, "%s: out of memory for the plot", path) : rt_write_atomic(path, b.p, b.n, e);
  free(b.p);
  return rc;
}
