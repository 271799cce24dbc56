/* quantize_ptq.c — post-training int8 quantization (`--quantize=int8`, the
 * `quantize` pass's int8 mode; quantize.h has the scheme).
 *
 * Requires: an inference module (forward only: `--infer`; no eval_step or
 * train_step, whose gradients could not pass through int8 ops), every
 * weight it quantizes holding trained data (`--checkpoint`), and every
 * site's activation scale global holding data: ctx->calibrate sets them
 * first (driver/calibrate.c: calibration samples, or a QAT checkpoint's
 * observers), or the module has them (IR text).
 *
 * Rewrites each site of `forward` (quant_sites: a matmul or conv2d whose
 * weight is a f32 parameter), y = x @ w, into
 *
 *   %s  = global @P.act_scale : f32[]            per-tensor, calibrated
 *   %q  = quantize %x, %s {value=128} : u8[..]   Z = QUANT_A_ZERO
 *   %a  = qmatmul %q, %wq : i32[..]              (qconv2d: pads with Z)
 *   %ds = mul %ws, %s : f32[N]                   s_x * s_w[channel]
 *   %y  = dequantize %a, %comp, %ds : f32[..]    f32(a - comp) * ds
 *
 * so that a - comp = sum (q - Z) w_q exactly, and y = x @ w up to the
 * rounding of x and w. The weight P becomes `param @P.q : i8` (its layout
 * kept: tb and conv filters as they were), `param @P.scale : f32` (one per
 * output channel: max |w| over the other axes / 127, symmetric, round half
 * to even, levels [-127, 127]) and `param @P.comp : i32` (Z times each
 * channel's sum of w_q). The bias, activation and everything else after
 * the dequantize stay f32: ops without an int8 kernel keep f32, and the
 * boundary is the explicit quantize / dequantize pair. A P no function
 * reads any more is removed from the module, so the binary and
 * <output>.safetensors carry the i8 weights and f32 scales instead.
 *
 * A contraction whose dot product is short stays f32: fewer than
 * QUANT_MIN_DOT weight elements per output channel (K of a dense weight,
 * Cin * kh * kw of a conv2d filter; quant_sites). Its int8 form is slower
 * than the f32 one (vpdpbusd sums 4 bytes per lane, so a 3x3 filter on one
 * channel fills 3 groups of 4 with one padded, and packing the im2col is
 * not amortized over 9 products: the CNN's first convolution took twice
 * the f32 time), and such a layer is usually the raw input layer, the one
 * most sensitive to 8-bit rounding. The pass names each one on stderr.
 *
 * Contractions in scan bodies (recurrent steps) stay f32: calibration runs
 * `forward` and sees only its own values. So does a second product that
 * reads a weight with its channels on the other axis (quant_sites). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quantize_ptq.h"

/* The global a GLOBAL node reads, or -1 for any other node. */
static int global_of(const IrFunc *f, int v) {
  const IrNode *n = &f->nodes[v];
  return n->op == OP_GLOBAL ? ir_global_find(f->mod, n->at.name) : -1;
}

/* The weight global of node v if it is a contraction (a matmul with ta=0
 * and a rank-2 weight, or a conv2d) whose weight is a f32 parameter, else
 * -1: a candidate for int8, whatever its size. */
static int contraction_weight(const IrFunc *f, int v) {
  const IrNode *n = &f->nodes[v];
  if (n->op != OP_MATMUL && n->op != OP_CONV2D) return -1;
  if (n->op == OP_MATMUL && (n->at.ta || f->nodes[n->args[1]].ty.sh.rank != 2)) return -1;
  int g = global_of(f, n->args[1]);
  return g >= 0 && f->mod->globals[g].kind == GLOBAL_PARAM && f->mod->globals[g].ty.dt == DT_F32 ? g : -1;
}

/* Whether node v is rewritten to int8: a candidate contraction whose dot
 * product is long enough to gain from it (the rule QAT shares). */
static bool is_site(const IrFunc *f, int v) {
  int g = contraction_weight(f, v);
  return g >= 0 && quant_dot_long_enough(&f->nodes[v], 1, &f->mod->globals[g].ty.sh);
}

/* Which axis of the weight holds the output channels: 1 for a dense w
 * [K,N] (tb=0), 0 for w [N,K] (tb=1) and conv filters [F,C,kh,kw]. */
static int channel_axis(const IrNode *site) { return site->op == OP_MATMUL && !site->at.tb ? 1 : 0; }

QuantSite *quant_sites(const IrFunc *f, int *n) {
  QuantSite *s = arena_alloc(f->mod->arena, ((size_t)f->n + 1) * sizeof *s);
  *n = 0;
  for (int v = 0; v < f->n; v++) {
    if (!is_site(f, v)) continue;
    const IrNode *node = &f->nodes[v];
    int g = global_of(f, node->args[1]), seen = 1;
    bool other_layout = false;
    for (int k = 0; k < *n; k++)
      if (s[k].weight == g) {
        seen++;
        other_layout |= channel_axis(&f->nodes[s[k].node]) != channel_axis(node);
      }
    /* One i8 copy per weight, with one channel axis: a product reading the
     * weight the other way round (tied, transposed) stays f32. */
    if (other_layout) continue;
    const char *p = f->mod->globals[g].name;
    s[*n] =
        (QuantSite){.node = v,
                    .act = node->args[0],
                    .weight = g,
                    .act_scale = seen == 1 ? arena_printf(f->mod->arena, "%s%s", p, QUANT_ACT_SCALE_SUFFIX)
                                           : arena_printf(f->mod->arena, "%s%s.%d", p, QUANT_ACT_SCALE_SUFFIX, seen)};
    (*n)++;
  }
  return s;
}

/* ---- the weights ---- */

/* The weight's elements as outer x channels x inner: element (o, c, i) is
 * at (o * nch + c) * inner + i (channel_axis says where c is). */
typedef struct Layout {
  int64_t outer, nch, inner;
} Layout;

static Layout layout_of(const IrNode *site, const Shape *w) {
  int64_t numel = ir_numel_static(w);
  if (channel_axis(site) == 1) return (Layout){w->d[0], w->d[1], 1};
  return (Layout){1, w->d[0], numel / w->d[0]};
}

/* The globals that replace weight P: its i8 values, per-channel scales and
 * zero-point compensations. */
typedef struct QWeight {
  int q, scale, comp;
} QWeight;

static int add_global(IrModule *m, const IrGlobal *like, const char *suffix, DType dt, const Shape *sh, void *data) {
  IrGlobal g = {.name = arena_printf(m->arena, "%s%s", like->name, suffix),
                .kind = GLOBAL_PARAM,
                .ty = {.dt = dt, .sh = *sh},
                .init = NNRT_INIT_ZEROS,
                .data = data,
                .loc = like->loc};
  return ir_global_add(m, g);
}

/* Quantizes weight global g (f32 data) for a site of kind `site`, once per
 * module: a second site reading g finds the globals made by the first. */
static QWeight quantize_weight(IrModule *m, int g, const IrNode *site) {
  const char *base = m->globals[g].name;
  int q = ir_global_find(m, arena_printf(m->arena, "%s.q", base));
  if (q >= 0)
    return (QWeight){q, ir_global_find(m, arena_printf(m->arena, "%s.scale", base)),
                     ir_global_find(m, arena_printf(m->arena, "%s.comp", base))};
  const IrGlobal w = m->globals[g]; /* copied: adding globals may move the array */
  Layout l = layout_of(site, &w.ty.sh);
  const float *x = w.data;
  int8_t *wq = arena_alloc(m->arena, (size_t)(l.outer * l.nch * l.inner));
  float *scale = arena_alloc(m->arena, (size_t)l.nch * sizeof *scale);
  int32_t *comp = arena_alloc(m->arena, (size_t)l.nch * sizeof *comp);
  for (int64_t c = 0; c < l.nch; c++) {
    float amax = 0;
    for (int64_t o = 0; o < l.outer; o++)
      for (int64_t i = 0; i < l.inner; i++)
        amax = fmaxf(amax, fabsf(x[(o * l.nch + c) * l.inner + i]));
    float s = fmaxf(amax / (float)QUANT_W_LEVEL, (float)QUANT_SCALE_MIN);
    int64_t sum = 0;
    for (int64_t o = 0; o < l.outer; o++)
      for (int64_t i = 0; i < l.inner; i++) {
        int64_t k = (o * l.nch + c) * l.inner + i;
        /* nearbyintf rounds half to even in the default rounding mode,
         * as the quantize op does (ir/interp.c). */
        float r = fminf(fmaxf(nearbyintf(x[k] / s), -(float)QUANT_W_LEVEL), (float)QUANT_W_LEVEL);
        wq[k] = (int8_t)r;
        sum += wq[k];
      }
    scale[c] = s;
    comp[c] = (int32_t)(QUANT_A_ZERO * (double)sum);
  }
  /* Per-channel operands broadcast against the product: [N] for a dense
   * layer's [..,N], [F,1,1] for a convolution's [N,F,OH,OW]. */
  Shape ch = {.rank = 1, .d = {l.nch}};
  if (site->op == OP_CONV2D) ch = (Shape){.rank = 3, .d = {l.nch, 1, 1}};
  return (QWeight){add_global(m, &w, ".q", DT_I8, &w.ty.sh, wq), add_global(m, &w, ".scale", DT_F32, &ch, scale),
                   add_global(m, &w, ".comp", DT_I32, &ch, comp)};
}

/* ---- the rewrite ---- */

/* Emits a site's int8 form reading activation x (a new id); returns y. */
static int emit_site(IrFunc *f, const IrNode *site, int x, QWeight qw, int act_scale) {
  Loc loc = site->loc;
  int s = ir_global_ref(f, act_scale, loc);
  Type u8 = {.dt = DT_U8, .sh = f->nodes[x].ty.sh};
  int q = ir_emit(f, OP_QUANTIZE, (int[]){x, s}, 2, &(Attrs){.value = QUANT_A_ZERO}, &u8, loc, NULL);
  int wq = ir_global_ref(f, qw.q, loc);
  Attrs at = site->at;
  if (site->op == OP_CONV2D) at.value = QUANT_A_ZERO;
  int acc = ir_emit(f, site->op == OP_CONV2D ? OP_QCONV2D : OP_QMATMUL, (int[]){q, wq}, 2, &at, NULL, loc, NULL);
  if (q < 0 || acc < 0) unreachable("quantize: the int8 form of a valid contraction does not type-check");
  int ds = ir_op2(f, OP_MUL, ir_global_ref(f, qw.scale, loc), s, loc);
  int y = ir_emit(f, OP_DEQUANTIZE, (int[]){acc, ir_global_ref(f, qw.comp, loc), ds}, 3, NULL, NULL, loc, NULL);
  if (y < 0) unreachable("quantize: dequantize does not type-check");
  return y;
}

/* An activation scale global with data: calibrated, or a QAT observer. */
static int act_scale_global(IrModule *m, const QuantSite *s, PassCtx *ctx) {
  int g = ir_global_find(m, s->act_scale);
  if (g < 0 || !m->globals[g].data || m->globals[g].ty.dt != DT_F32 || m->globals[g].ty.sh.rank != 0) {
    diag_fatal(ctx->diag,
               "quantize: @%s has no activation scale @%s (f32[] with data): calibrate (nnc build --calibrate N) or "
               "start from a QAT checkpoint",
               m->globals[s->weight].name, s->act_scale);
    return -1;
  }
  double v = *(const float *)m->globals[g].data;
  if (!(v >= QUANT_SCALE_MIN) || !isfinite(v)) {
    diag_fatal(ctx->diag, "quantize: activation scale @%s is %g; it must be finite and at least %g", s->act_scale, v,
               QUANT_SCALE_MIN);
    return -1;
  }
  return g;
}

/* Rebuilds f node by node, each site as its int8 form; the weights' own
 * global reads drop out with the DCE at the end. */
static bool rewrite(IrFunc *f, PassCtx *ctx) {
  IrModule *m = f->mod;
  int nsites;
  QuantSite *sites = quant_sites(f, &nsites);
  if (!nsites) return true;
  int *site_of = malloc(((size_t)f->n + 1) * sizeof *site_of), *map = malloc(((size_t)f->n + 1) * sizeof *map);
  if (!site_of || !map) unreachable("out of memory");
  for (int v = 0; v < f->n; v++)
    site_of[v] = -1;
  bool ok = true;
  for (int k = 0; k < nsites; k++) { /* every problem reported, not the first */
    site_of[sites[k].node] = k;
    if (!m->globals[sites[k].weight].data) {
      diag_fatal(ctx->diag, "quantize: weight @%s has no trained values: give them with --checkpoint",
                 m->globals[sites[k].weight].name);
      ok = false;
    }
    ok &= act_scale_global(m, &sites[k], ctx) >= 0;
  }
  if (!ok) {
    free(site_of), free(map);
    return false;
  }
  IrNode *old = f->nodes;
  int nold = f->n;
  f->nodes = NULL, f->n = f->cap = 0;
  for (int v = 0; v < nold; v++) {
    IrNode n = old[v];
    for (int a = 0; a < n.nargs; a++)
      n.args[a] = map[n.args[a]];
    if (site_of[v] < 0) {
      map[v] = ir_append(f, &n);
      continue;
    }
    const QuantSite *s = &sites[site_of[v]];
    QWeight qw = quantize_weight(m, s->weight, &old[v]);
    map[v] = emit_site(f, &old[v], n.args[0], qw, ir_global_find(m, s->act_scale));
  }
  for (int r = 0; r < f->nrets; r++)
    f->rets[r] = map[f->rets[r]];
  free(site_of), free(map);
  pass_dce_func(f);
  return true;
}

/* Whether any function reads or stores global name. */
static bool global_used(const IrModule *m, const char *name) {
  for (int i = 0; i < m->nfuncs; i++)
    for (int v = 0; v < m->funcs[i]->n; v++) {
      const IrNode *n = &m->funcs[i]->nodes[v];
      if ((n->op == OP_GLOBAL || n->op == OP_STORE) && !strcmp(n->at.name, name)) return true;
    }
  return false;
}

/* Names each contraction left f32 for its short dot product, so that a
 * user sees why the build still has an f32 conv2d / matmul. */
static void report_short(const IrFunc *f, FILE *out) {
  for (int v = 0; v < f->n; v++) {
    int g = contraction_weight(f, v);
    if (g < 0 || is_site(f, v)) continue;
    quant_report_short(out, f->mod->globals[g].name, &f->nodes[v], 1, &f->mod->globals[g].ty.sh);
  }
}

bool quantize_ptq(IrModule *m, PassCtx *ctx) {
  static const char *const training[] = {IR_FN_EVAL, IR_FN_TRAIN, IR_FN_LOSS};
  for (size_t i = 0; i < sizeof training / sizeof *training; i++)
    if (ir_func_find(m, training[i])) {
      diag_fatal(ctx->diag, "--quantize=int8 makes an inference model, but this one has %s: build it with --infer",
                 training[i]);
      return false;
    }
  if (ctx->calibrate && !ctx->calibrate(m, ctx->calibrate_arg)) return false;
  IrFunc *f = ir_func_find(m, IR_FN_FORWARD);
  if (!f) return true;
  report_short(f, ctx->report ? ctx->report : stderr);
  if (!rewrite(f, ctx)) return false;
  /* The f32 weights quantized away go: the binary and its checkpoint carry
   * the i8 ones. (A weight a scan body still reads stays.) */
  int n = 0;
  for (int i = 0; i < m->nglobals; i++) {
    const IrGlobal *g = &m->globals[i];
    bool replaced = g->kind == GLOBAL_PARAM && ir_global_find(m, arena_printf(m->arena, "%s.q", g->name)) >= 0;
    if (!replaced || global_used(m, g->name)) m->globals[n++] = *g;
  }
  m->nglobals = n;
  return true;
}
