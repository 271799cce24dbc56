/* expr.c — the CUDA backend's shared core: sizes, types and constants as
 * CUDA C, kernels' opening lines and stride loops, a.b[] slots, and the
 * elementwise evaluation every kernel family builds on (CuEw, cuda.h).
 *
 * An evaluation is nest.c's idea without loops of its own: the domain's
 * dims are grouped into index variables (adjacent dims that every access
 * steps over as one run share a variable, as nest.c collapses loops), the
 * caller sets the variables (from a grid-stride flat index, a row number,
 * a column) and asks for values; each value is a C variable v<node>
 * declared once per scope, leaves read through their views at the index,
 * members through the op table below. The table mirrors
 * codegen/cpu/k_elem.c's row for row, with the same semantics (ir/interp.c
 * defines them): comparisons ordered but ne, where's NaN condition true,
 * quantize's clamp by maxNum/minNum, fake_quant's by ordered compares,
 * casts saturating from float as ir_dtype_convert does. Transcendentals
 * are CUDA's f32 functions (tanhf, expm1f, log1pf: within a few ulp of the
 * CPU's, which is what "the same results within f32 rounding" allows). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda.h"

/* ---- text ---- */

void cu_mono(CuSrc *s, CgMono m) {
  if (m.c == 0) {
    cu_printf(s, "0LL");
    return;
  }
  cu_printf(s, "(%lldLL", (long long)m.c);
  for (int k = 0; k < CG_MAX_SYMS; k++)
    for (int e = 0; e < m.e[k]; e++)
      cu_printf(s, "*a.s[%d]", k);
  cu_printf(s, ")");
}

const char *cu_ctype(DType dt) {
  switch (dt) {
  case DT_F32: return "float";
  case DT_I32: return "int";
  case DT_I8: return "signed char";
  case DT_U8: return "unsigned char";
  case DT_I64: return "long long";
  default: unreachable("no CUDA C type for this dtype");
  }
}

/* f32 constants as nine significant digits (enough to round-trip any f32),
 * after the one rounding from double the CPU backend makes too; non-finite
 * values by their bits, which need no header. */
static void fconst(CuSrc *s, double v) {
  float f = (float)v;
  if (isnan(f)) cu_printf(s, "__int_as_float(0x7fffffff)");
  else if (isinf(f)) cu_printf(s, "%s__int_as_float(0x7f800000)", f < 0 ? "-" : "");
  else {
    char buf[32];
    snprintf(buf, sizeof buf, "%.9g", (double)f);
    cu_printf(s, "%s%sf", buf, strpbrk(buf, ".e") ? "" : ".0"); /* "1f" is no float literal */
  }
}

void cu_const(CuSrc *s, double v, DType dt) {
  if (ir_dtype_is_float(dt)) {
    fconst(s, v);
    return;
  }
  /* An integer const is in its type's range (the shape rule); the ends of
   * i64's (a cast's saturation bounds) have no plain literal. */
  if (v >= 9223372036854775807.0) cu_printf(s, "9223372036854775807LL");
  else if (v <= -9223372036854775807.0) cu_printf(s, "(-9223372036854775807LL - 1)");
  else cu_printf(s, "((%s)%lldLL)", cu_ctype(dt), (long long)v);
}

/* ---- kernels and loops ---- */

void cu_kernel_open(CuGen *g, const CgPlan *p, int index, const char *what, int block, int rows, CuLaunch *l) {
  /* A scan body's function name has a dot ("lstm_1.cell"), which a C
   * identifier cannot: every character outside [A-Za-z0-9_] becomes '_'. */
  char *name = arena_printf(g->arena, "nnc_%s_k%d_%s", p->f->name, index, what);
  for (char *c = name; *c; c++)
    if (!isalnum((unsigned char)*c) && *c != '_') *c = '_';
  memset(l, 0, sizeof *l);
  l->kid = cu_gen_kernel(g, name, block, rows);
  cu_printf(&g->src, "\nextern \"C\" __global__ void __launch_bounds__(%d) %s(NnrtCuArgs a) {\n", block, name);
}

void cu_kernel_close(CuGen *g) { cu_printf(&g->src, "}\n"); }

void cu_for_elems(CuSrc *s, const char *var) {
  cu_printf(s,
            "for (long long %s = (long long)blockIdx.x * blockDim.x + threadIdx.x; %s < a.work; "
            "%s += (long long)gridDim.x * blockDim.x) {\n",
            var, var, var);
}

void cu_for_rows(CuSrc *s, const char *var) {
  cu_printf(s, "for (long long %s = blockIdx.x; %s < a.work; %s += gridDim.x) {\n", var, var, var);
}

/* ---- buffers ---- */

/* Distinct memories, as nest.c's same_mem decides them: the host passes
 * one pointer per memory. */
static bool same_mem(const CgPlan *p, int a, int b) {
  const CgBuf *x = &p->bufs[a], *y = &p->bufs[b];
  if (a == b) return true;
  if (x->kind == CB_WS && y->kind == CB_WS) return x->index == y->index && x->at == y->at;
  if (x->kind == CB_WS || y->kind == CB_WS) return false;
  return x->kind == y->kind && x->index == y->index;
}

int cu_launch_buf(CuGen *g, const CgPlan *p, CuLaunch *l, int buf) {
  for (int i = 0; i < l->nbufs; i++)
    if (same_mem(p, l->bufs[i], buf)) return i;
  if (l->nbufs == NNRT_CU_MAX_BUFS) {
    cu_gen_fail(g, "a kernel of %s touches more than %d buffers", p->f->name, NNRT_CU_MAX_BUFS);
    return -1;
  }
  l->bufs[l->nbufs] = buf;
  return l->nbufs++;
}

bool cu_buf_ptr(CuGen *g, const CgPlan *p, CuLaunch *l, CuSrc *s, int buf, DType dt) {
  int slot = cu_launch_buf(g, p, l, buf);
  if (slot < 0) return false;
  cu_printf(s, "((%s *)a.b[%d])", cu_ctype(dt), slot);
  return true;
}

/* ---- the evaluation ---- */

/* Domain strides of view v (shape s) read inside domain dom: numpy
 * broadcasting aligns s to the domain's trailing dims; a dim of 1 that
 * stretches reads with stride 0 (nest.c's dom_strides). */
static void dom_strides(const Shape *dom, const CgView *v, const Shape *s, CgMono out[IR_MAX_RANK]) {
  for (int i = 0; i < dom->rank; i++) {
    int j = i - (dom->rank - s->rank);
    out[i] = j < 0 || (s->d[j] == 1 && dom->d[i] != 1) ? cg_mono(0) : v->st[j];
  }
}

/* The value a leaf is read from: its own, or a materialising member's
 * source view. */
static const CgVal *leaf_val(const CuEw *E, int x) {
  if (!E->member[x]) return &E->p->val[x];
  if (E->p->mat[x]) return &E->p->src[x];
  return NULL;
}

static bool computes(const CuEw *E, int x) { return E->member[x] && !E->p->mat[x]; }

static unsigned vary_of_access(const CuEw *E, int acc) {
  unsigned m = 0;
  for (int j = 0; j < E->nv; j++)
    if (E->dst[acc][E->v[j].hi].c != 0) m |= 1u << j;
  return m;
}

static void propagate_vary(CuEw *E, int from) {
  const IrFunc *f = E->p->f;
  for (int x = from; x < f->n; x++) {
    if (!E->need[x] || !computes(E, x) || !op_is(f->nodes[x].op, OPF_ELEMWISE)) continue;
    unsigned m = 0;
    for (int j = 0; j < f->nodes[x].nargs; j++)
      m |= E->vary[f->nodes[x].args[j]];
    E->vary[x] = m;
  }
}

void cu_ew_init(CuEw *E, CuGen *g, const CgPlan *p, const CgKernel *k, CuLaunch *l, const char *ix, const int *targets,
                int ntargets, const int *tags, CgMono (*extra)[IR_MAX_RANK], int nextra) {
  const IrFunc *f = p->f;
  const Shape *dom = &k->domain;
  size_t n = (size_t)f->n + 1;
  memset(E, 0, sizeof *E);
  E->g = g, E->p = p, E->k = k, E->l = l, E->ix = ix;
  E->member = arena_alloc(g->arena, n);
  E->need = arena_alloc(g->arena, n);
  E->done = arena_alloc(g->arena, n);
  E->vary = arena_alloc(g->arena, n * sizeof *E->vary);
  E->acc = arena_alloc(g->arena, n * sizeof *E->acc);
  E->dst = arena_alloc(g->arena, (n + (size_t)nextra) * sizeof *E->dst);
  for (int i = 0; i < k->nmem; i++)
    E->member[k->mem[i]] = true;
  for (int i = 0; i < ntargets; i++)
    E->need[targets[i]] = true;
  for (int x = f->n - 1; x >= 0; x--)
    if (E->need[x] && computes(E, x))
      for (int j = 0; j < f->nodes[x].nargs; j++)
        E->need[f->nodes[x].args[j]] = true;

  /* Accesses: the needed leaves in memory, then the caller's. */
  for (int x = 0; x < f->n; x++) {
    E->acc[x] = -1;
    const CgVal *v = E->need[x] ? leaf_val(E, x) : NULL;
    if (!v || v->kind != CV_BUF) continue;
    E->acc[x] = E->nacc;
    dom_strides(dom, &v->v, &f->nodes[x].ty.sh, E->dst[E->nacc++]);
  }
  E->first_extra = E->nacc;
  for (int i = 0; i < nextra; i++)
    memcpy(E->dst[E->nacc++], extra[i], sizeof extra[i]);

  /* Variables: dims in order without static size-1 ones, a dim joining the
   * variable before it when their tags agree and every access steps over
   * that variable's last dim exactly as over a run of this one. */
  for (int d = 0; d < dom->rank; d++) {
    if (dom->d[d] == 1) continue;
    CgMono ext = cg_mono_dim(dom->d[d]);
    if (E->nv) {
      CuIx *V = &E->v[E->nv - 1];
      bool ok = !tags || tags[V->hi] == tags[d];
      for (int a = 0; ok && a < E->nacc; a++)
        ok = cg_mono_eq(E->dst[a][V->hi], cg_mono_mul(E->dst[a][d], ext));
      if (ok) {
        V->hi = d;
        V->ext = cg_mono_mul(V->ext, ext);
        continue;
      }
    }
    E->v[E->nv++] = (CuIx){.lo = d, .hi = d, .ext = ext};
  }
  for (int x = 0; x < f->n; x++)
    if (E->acc[x] >= 0) E->vary[x] = vary_of_access(E, E->acc[x]);
  propagate_vary(E, 0);
  /* A root varies like its operands until its kernel says otherwise. */
  for (int x = 0; x < f->n; x++)
    if (E->need[x] && computes(E, x) && !op_is(f->nodes[x].op, OPF_ELEMWISE)) {
      for (int j = 0; j < f->nodes[x].nargs; j++)
        E->vary[x] |= E->vary[f->nodes[x].args[j]];
      propagate_vary(E, x + 1);
    }
}

unsigned cu_ew_all(const CuEw *E) { return E->nv >= 32 ? ~0u : (1u << E->nv) - 1; }

int cu_ew_var_of(const CuEw *E, int d) {
  for (int j = 0; j < E->nv; j++)
    if (E->v[j].lo <= d && d <= E->v[j].hi) return E->k->domain.d[d] == 1 ? -1 : j;
  return -1;
}

void cu_ew_unflatten(const CuEw *E, CuSrc *s, const char *flat, unsigned mask) {
  int last = -1, first = -1;
  for (int j = 0; j < E->nv; j++)
    if (mask >> j & 1) last = j, first = first < 0 ? j : first;
  if (last < 0) return;
  if (first == last) {
    cu_printf(s, "long long %s%d = %s;\n", E->ix, last, flat);
    return;
  }
  cu_printf(s, "long long %s_r = %s;\n", E->ix, flat);
  for (int j = last; j >= first; j--) {
    if (!(mask >> j & 1)) continue;
    if (j == first) {
      cu_printf(s, "long long %s%d = %s_r;\n", E->ix, j, E->ix);
      break;
    }
    cu_printf(s, "long long %s%d = %s_r %% ", E->ix, j, E->ix);
    cu_mono(s, E->v[j].ext);
    cu_printf(s, ";\n%s_r /= ", E->ix);
    cu_mono(s, E->v[j].ext);
    cu_printf(s, ";\n");
  }
}

void cu_ew_offset(const CuEw *E, CuSrc *s, int acc, unsigned mask) {
  bool any = false;
  cu_printf(s, "(");
  for (int j = 0; j < E->nv; j++) {
    CgMono st = E->dst[acc][E->v[j].hi];
    if (!(mask >> j & 1) || st.c == 0) continue;
    cu_printf(s, "%s%s%d", any ? " + " : "", E->ix, j);
    if (!cg_mono_is(st, 1)) cu_printf(s, "*"), cu_mono(s, st);
    any = true;
  }
  cu_printf(s, "%s)", any ? "" : "0LL");
}

/* A leaf's value at the index: a strided load, a constant, or a size. */
static bool emit_leaf(CuEw *E, CuSrc *s, int x, const CgVal *v) {
  DType dt = E->p->f->nodes[x].ty.dt;
  switch (v->kind) {
  case CV_CONST:
    cu_const(s, v->cval, dt);
    return true;
  case CV_DIM:
    cu_printf(s, "(%s)", cu_ctype(dt));
    cu_mono(s, cg_mono_dim(E->p->f->nodes[v->dim_of].ty.sh.d[v->axis]));
    return true;
  case CV_BUF:
    if (E->lane) {
      cu_printf(s, "L%d%s", E->acc[x], E->lane);
      return true;
    }
    if (!cu_buf_ptr(E->g, E->p, E->l, s, v->v.buf, dt)) return false;
    cu_printf(s, "[");
    if (!cg_mono_is(v->v.off, 0)) cu_mono(s, v->v.off), cu_printf(s, " + "); /* a slice */
    cu_ew_offset(E, s, E->acc[x], ~0u);
    cu_printf(s, "]");
    return true;
  default:
    return cu_gen_fail(E->g, "%s: kernel reads %%%d, which has no value", E->p->f->name, x);
  }
}

bool cu_ew_emit(CuEw *E, CuSrc *s, int x) {
  if (E->done[x]) return true;
  const IrFunc *f = E->p->f;
  const IrNode *nd = &f->nodes[x];
  if (!E->need[x]) unreachable("cu_ew_emit: a value the evaluation was not set up for");
  const CgVal *lv = leaf_val(E, x);
  if (!lv && op_is(nd->op, OPF_ELEMWISE))
    for (int j = 0; j < nd->nargs; j++)
      if (!cu_ew_emit(E, s, nd->args[j])) return false;
  if (!lv && !op_is(nd->op, OPF_ELEMWISE)) {
    for (int j = 0; j < nd->nargs; j++)
      if (E->need[nd->args[j]] && !cu_ew_emit(E, s, nd->args[j])) return false;
    if (!E->root_value) unreachable("cu_ew_emit: a root member without root_value");
    if (!E->root_value(E, s, x, E->root_ctx)) return false;
    E->done[x] = true;
    return true;
  }
  cu_printf(s, "%s v%d = ", cu_ctype(nd->ty.dt), x);
  if (lv) {
    if (!emit_leaf(E, s, x, lv)) return false;
  } else {
    char names[IR_MAX_ARGS][16];
    const char *a[IR_MAX_ARGS];
    IrNode args[IR_MAX_ARGS];
    for (int j = 0; j < nd->nargs; j++) {
      snprintf(names[j], sizeof names[j], "v%d", nd->args[j]);
      a[j] = names[j];
      args[j] = f->nodes[nd->args[j]];
    }
    if (!cu_ew_op(E->g, s, nd, args, a)) return false;
  }
  cu_printf(s, ";\n");
  E->done[x] = true;
  return true;
}

void cu_ew_forget(CuEw *E, unsigned mask) {
  for (int x = 0; x < E->p->f->n; x++)
    if (mask == ~0u || (E->vary[x] & mask)) E->done[x] = false;
}

void cu_ew_set_vary(CuEw *E, int node, unsigned mask) {
  E->vary[node] = mask;
  propagate_vary(E, node + 1);
}

bool cu_ew_store(CuEw *E, CuSrc *s, int node, int buf, int acc) {
  if (!cu_ew_emit(E, s, node)) return false;
  if (!cu_buf_ptr(E->g, E->p, E->l, s, buf, E->p->f->nodes[node].ty.dt)) return false;
  cu_printf(s, "[");
  cu_ew_offset(E, s, acc, ~0u);
  cu_printf(s, "] = v%d;\n", node);
  return true;
}

/* ---- the op table ----
 *
 * A row is a template ("$0", "$1", "$2": the operands; "$v": the value
 * attribute, "$l", "$h": fake_quant's qmin, qmax, each an f32 constant)
 * or, for ops whose code depends on their attributes or types, a
 * function. Templates may name an operand more than once: operands are
 * variables, and the expression is pure. */

typedef bool (*CuEwFn)(CuGen *g, CuSrc *s, const IrNode *n, const IrNode *args, const char *const *a);

static void tpl(CuSrc *s, const char *t, const IrNode *n, const char *const *a) {
  cu_printf(s, "(");
  for (; *t; t++) {
    if (*t != '$') {
      cu_printf(s, "%c", *t);
      continue;
    }
    t++;
    if (*t >= '0' && *t <= '2') cu_printf(s, "%s", a[*t - '0']);
    else if (*t == 'v') fconst(s, n->at.value);
    else if (*t == 'l') fconst(s, n->at.qmin);
    else if (*t == 'h') fconst(s, n->at.qmax);
    else unreachable("op template: unknown placeholder");
  }
  cu_printf(s, ")");
}

/* gelu's tanh approximation (ir.h), grouped as k_elem.c's ew_gelu. */
static bool ew_gelu(CuGen *g, CuSrc *s, const IrNode *n, const IrNode *args, const char *const *a) {
  (void)g, (void)n, (void)args;
  cu_printf(s, "(0.5f * %s * (1.f + tanhf(%s * ((1.f + %s * %s * ", a[0], a[0], a[0], a[0]);
  fconst(s, IR_GELU_A);
  cu_printf(s, ") * ");
  fconst(s, IR_GELU_C);
  cu_printf(s, "))))");
  return true;
}

/* log(1 + e^x), x itself above the threshold (ir.h). */
static bool ew_softplus(CuGen *g, CuSrc *s, const IrNode *n, const IrNode *args, const char *const *a) {
  (void)g, (void)n, (void)args;
  cu_printf(s, "(%s > ", a[0]);
  fconst(s, IR_SOFTPLUS_THRESHOLD);
  cu_printf(s, " ? %s : log1pf(expf(%s)))", a[0], a[0]);
  return true;
}

/* Small integer and half exponents as multiplies and square roots, as
 * k_elem.c's ew_pow (Adam's g^2 is not a powf call). */
static bool ew_pow(CuGen *g, CuSrc *s, const IrNode *n, const IrNode *args, const char *const *a) {
  (void)g, (void)args;
  double e = n->at.value;
  const char *t = e == 0      ? "1.f"
                  : e == 1    ? "$0"
                  : e == 2    ? "$0 * $0"
                  : e == 3    ? "$0 * $0 * $0"
                  : e == -1   ? "1.f / $0"
                  : e == -2   ? "1.f / ($0 * $0)"
                  : e == 0.5  ? "sqrtf($0)"
                  : e == -0.5 ? "1.f / sqrtf($0)"
                              : "powf($0, $v)";
  tpl(s, t, n, a);
  return true;
}

/* fake_quant and its gradient: the level q = round_half_even(x / s) + Z
 * (rintf rounds half to even), clamped by ordered compares so that a NaN
 * stays NaN; the gradient passes dy where q is in range. */
static bool ew_fake_quant(CuGen *g, CuSrc *s, const IrNode *n, const IrNode *args, const char *const *a) {
  (void)g, (void)args;
  if (n->op == OP_FAKE_QUANT_GRAD) tpl(s, "rintf($0 / $1) + $v >= $l && rintf($0 / $1) + $v <= $h ? $2 : 0.f", n, a);
  else
    tpl(s,
        "((rintf($0 / $1) + $v < $l ? $l : rintf($0 / $1) + $v > $h ? $h : rintf($0 / $1) + $v) - $v) * $1", n,
        a);
  return true;
}

/* The range of integer dtype dt, as f32 bounds [lo, hi + 1) (powers of two,
 * exact) and as integer literals. */
static void int_range(DType dt, double *lo, double *hi1) {
  int bits = 8 * ir_dtype_size(dt);
  *lo = ir_dtype_is_signed(dt) ? -ldexp(1, bits - 1) : 0;
  *hi1 = *lo + ldexp(1, bits);
}

/* ir_dtype_convert's rules: float -> int truncates and saturates, NaN to 0;
 * int -> int wraps or extends by the source's signedness (C's conversions);
 * int -> float rounds to nearest. */
static bool ew_cast(CuGen *g, CuSrc *s, const IrNode *n, const IrNode *args, const char *const *a) {
  (void)g;
  DType from = args[0].ty.dt, to = n->ty.dt;
  const char *t = cu_ctype(to);
  if (from == to || (ir_dtype_is_float(from) && ir_dtype_is_float(to))) {
    cu_printf(s, "%s", a[0]);
    return true;
  }
  if (!ir_dtype_is_float(from)) {
    cu_printf(s, "((%s)%s)", t, a[0]);
    return true;
  }
  double lo, hi1;
  int_range(to, &lo, &hi1);
  cu_printf(s, "(%s != %s ? (%s)0 : %s <= ", a[0], a[0], t, a[0]);
  fconst(s, lo);
  cu_printf(s, " ? ");
  cu_const(s, lo, to);
  cu_printf(s, " : %s >= ", a[0]);
  fconst(s, hi1);
  cu_printf(s, " ? ");
  cu_const(s, hi1 - 1, to);
  cu_printf(s, " : (%s)%s)", t, a[0]);
  return true;
}

/* quantize: round_half_even(x / scale) + Z, clamped by maxNum then minNum
 * (a NaN goes to the low end), then an exact conversion. */
static bool ew_quantize(CuGen *g, CuSrc *s, const IrNode *n, const IrNode *args, const char *const *a) {
  (void)g, (void)args;
  double lo, hi1;
  int_range(n->ty.dt, &lo, &hi1);
  cu_printf(s, "((%s)(int)fminf(fmaxf(rintf(%s / %s) + ", cu_ctype(n->ty.dt), a[0], a[1]);
  fconst(s, n->at.value);
  cu_printf(s, ", ");
  fconst(s, lo);
  cu_printf(s, "), ");
  fconst(s, hi1 - 1);
  cu_printf(s, "))");
  return true;
}

/* dequantize: f32(acc - comp) * scale, the difference wrapping in i32. */
static bool ew_dequantize(CuGen *g, CuSrc *s, const IrNode *n, const IrNode *args, const char *const *a) {
  (void)g, (void)n, (void)args;
  cu_printf(s, "((float)(int)((unsigned)%s - (unsigned)%s) * %s)", a[0], a[1], a[2]);
  return true;
}

static const struct {
  const char *tpl;
  CuEwFn fn;
} ew_table[OP_COUNT] = {
    [OP_ADD] = {.tpl = "$0 + $1"},
    [OP_SUB] = {.tpl = "$0 - $1"},
    [OP_MUL] = {.tpl = "$0 * $1"},
    [OP_DIV] = {.tpl = "$0 / $1"},
    /* C's operators: ordered, but != (true with a NaN), as k_elem.c's */
    [OP_EQ] = {.tpl = "$0 == $1 ? 1.f : 0.f"},
    [OP_NE] = {.tpl = "$0 != $1 ? 1.f : 0.f"},
    [OP_LT] = {.tpl = "$0 < $1 ? 1.f : 0.f"},
    [OP_LE] = {.tpl = "$0 <= $1 ? 1.f : 0.f"},
    [OP_GT] = {.tpl = "$0 > $1 ? 1.f : 0.f"},
    [OP_GE] = {.tpl = "$0 >= $1 ? 1.f : 0.f"},
    [OP_WHERE] = {.tpl = "$0 != 0.f ? $1 : $2"}, /* a NaN condition picks a */
    [OP_NEG] = {.tpl = "-$0"},
    /* x <= 0 is false with a NaN: relu(NaN) is NaN, step(NaN) 1 (k_elem.c) */
    [OP_RELU] = {.tpl = "$0 <= 0.f ? 0.f : $0"},
    [OP_STEP] = {.tpl = "$0 <= 0.f ? 0.f : 1.f"},
    [OP_SIGMOID] = {.tpl = "1.f / (1.f + expf(-$0))"},
    [OP_TANH] = {.tpl = "tanhf($0)"},
    [OP_GELU] = {.fn = ew_gelu},
    [OP_EXP] = {.tpl = "expf($0)"},
    [OP_LOG] = {.tpl = "logf($0)"},
    [OP_SQRT] = {.tpl = "sqrtf($0)"},
    [OP_POW] = {.fn = ew_pow},
    [OP_LEAKY_RELU] = {.tpl = "$0 > 0.f ? $0 : $0 * $v"},
    [OP_ELU] = {.tpl = "$0 > 0.f ? $0 : expm1f($0) * $v"},
    [OP_SILU] = {.tpl = "$0 * (1.f / (1.f + expf(-$0)))"},
    [OP_SOFTPLUS] = {.fn = ew_softplus},
    [OP_CAST] = {.fn = ew_cast},
    [OP_FAKE_QUANT] = {.fn = ew_fake_quant},
    [OP_FAKE_QUANT_GRAD] = {.fn = ew_fake_quant},
    [OP_QUANTIZE] = {.fn = ew_quantize},
    [OP_DEQUANTIZE] = {.fn = ew_dequantize},
};

bool cu_ew_op(CuGen *g, CuSrc *s, const IrNode *n, const IrNode *args, const char *const *a) {
  if (ew_table[n->op].fn) return ew_table[n->op].fn(g, s, n, args, a);
  if (ew_table[n->op].tpl) {
    tpl(s, ew_table[n->op].tpl, n, a);
    return true;
  }
  return cu_gen_fail(g, "no CUDA code for elementwise op %s", ir_ops[n->op].mnemonic);
}
