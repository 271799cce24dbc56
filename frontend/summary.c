/* summary.c — `nnc summary`: a Keras-style table of the model's layers
 * (inputs, parameters, layer calls, activations), their output shapes with
 * the batch as B, and parameter counts; then the totals in elements and
 * bytes (f32). The totals come from the module's globals, so they count
 * every trained parameter whether or not a layer row shows it. Shapes and
 * counts are the module's as it is now: after structured pruning, the
 * pruned model's. */
#include <string.h>

#include "frontend.h"

/* 203530 → "203,530" */
static const char *grouped(int64_t n, char *buf, size_t len) {
  char digits[32];
  int nd = snprintf(digits, sizeof digits, "%lld", (long long)n);
  size_t k = 0;
  for (int i = 0; i < nd && k + 2 < len; i++) {
    if (i > 0 && digits[i - 1] != '-' && (nd - i) % 3 == 0) buf[k++] = ',';
    buf[k++] = digits[i];
  }
  buf[k] = 0;
  return buf;
}

/* Bytes the way Keras prints them: 795.04 KB (binary units). */
static const char *human_bytes(int64_t n, char *buf, size_t len) {
  static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = (double)n;
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, u++;
  snprintf(buf, len, "%.2f %s", v, units[u]);
  return buf;
}

/* f32[B,784] → (B, 784) */
static const char *shape_str(const IrModule *m, const Type *t, char *buf, size_t len) {
  size_t k = (size_t)snprintf(buf, len, "(");
  for (int i = 0; i < t->sh.rank && k < len; i++) {
    int64_t d = t->sh.d[i];
    const char *sep = i ? ", " : "";
    if (IR_IS_SYM(d) && IR_SYM_INDEX(d) < m->nsyms)
      k += (size_t)snprintf(buf + k, len - k, "%s%s", sep, m->syms[IR_SYM_INDEX(d)]);
    else k += (size_t)snprintf(buf + k, len - k, "%s%lld", sep, (long long)d);
  }
  /* A 1-d shape prints as Python's 1-tuple, (128,), as Keras shows it. */
  if (k < len) snprintf(buf + k, len - k, t->sh.rank == 1 ? ",)" : ")");
  return buf;
}

static void rule(FILE *out, char c, int width) {
  for (int i = 0; i < width; i++) fputc(c, out);
  fputc('\n', out);
}

/* How much layer l's parameters grew (or shrank: structured pruning) since
 * lowering: its globals are named "<layer>.<what>" (dense_1.w), or the
 * layer's own name (a `param` statement's row). */
static int64_t params_delta(const FeModel *fm, const FeLayer *l) {
  const IrModule *m = fm->mod;
  size_t n = strlen(l->name);
  int64_t d = 0;
  for (int i = 0; i < m->nglobals; i++) {
    const char *g = m->globals[i].name;
    if (!strncmp(g, l->name, n) && (!g[n] || (g[n] == '.' && !strchr(g + n + 1, '.'))))
      d += ir_numel_static(&m->globals[i].ty.sh) - fm->numel0[i];
  }
  return d;
}

void fe_print_summary(FILE *out, const FeModel *fm) {
  const IrModule *m = fm->mod;
  enum { W_NAME = 34, W_SHAPE = 24, W_PARAMS = 12, WIDTH = W_NAME + W_SHAPE + W_PARAMS };
  char b1[160], b2[160], b3[64];
  fprintf(out, "Model: \"%s\"\n", m->name);
  rule(out, '_', WIDTH);
  fprintf(out, "%-*s%-*s%s\n", W_NAME, "Layer (type)", W_SHAPE, "Output Shape", "Param #");
  rule(out, '=', WIDTH);
  for (int i = 0; i < fm->nlayers; i++) {
    const FeLayer *l = &fm->layers[i];
    snprintf(b1, sizeof b1, "%s (%s)", l->name, l->kind);
    const IrFunc *fwd = ir_func_find(m, IR_FN_FORWARD);
    const Type *t = fwd && l->value >= 0 && l->value < fwd->n ? &fwd->nodes[l->value].ty : &l->out;
    fprintf(out, "%-*s %-*s %s\n", W_NAME - 1, b1, W_SHAPE - 1, shape_str(m, t, b2, sizeof b2),
            grouped(l->params + params_delta(fm, l), b3, sizeof b3));
    if (i + 1 < fm->nlayers) rule(out, '_', WIDTH);
  }
  rule(out, '=', WIDTH);
  int64_t total = 0, trainable = 0;
  for (int i = 0; i < m->nglobals; i++) {
    int64_t n = ir_numel_static(&m->globals[i].ty.sh);
    /* Keras counts a batch norm's moving statistics as non-trainable params. */
    if (m->globals[i].kind == GLOBAL_STATE || n < 0) continue;
    total += n;
    if (m->globals[i].kind == GLOBAL_PARAM) trainable += n;
  }
  fprintf(out, "Total params: %s (%s)\n", grouped(total, b3, sizeof b3), human_bytes(4 * total, b2, sizeof b2));
  fprintf(out, "Trainable params: %s (%s)\n", grouped(trainable, b3, sizeof b3),
          human_bytes(4 * trainable, b2, sizeof b2));
  fprintf(out, "Non-trainable params: %s (%s)\n", grouped(total - trainable, b3, sizeof b3),
          human_bytes(4 * (total - trainable), b2, sizeof b2));
  rule(out, '_', WIDTH);
}
