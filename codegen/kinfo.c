/* kinfo.c — what each planned kernel computes and costs, backend-neutral.
 *
 * The CPU backend stores these facts in the model's kernel tables
 * (runtime/nnrt_abi.h, NnrtKernel) so that a built binary can report bytes
 * and FLOPs per second per kernel (`<prog> profile`, `nnc bench`). Sizes
 * may hold symbolic dims, so every cost is a polynomial in the syms,
 * evaluated by the runtime for the batch it runs.
 *
 * The counts are a model of the work, not a trace of it (docs/bench.md):
 *   bytes  each buffer the kernel reads (its leaves) once, at the elements
 *          its view spans (a broadcast dim, stride 0, is read once, not per
 *          use), plus each value it writes (its exports); what stays in
 *          registers between fused ops costs nothing, which is the point.
 *   FLOPs  matmul 2*M*N*K; convolution 2 per multiply-add of its window;
 *          pooling one per window element; one per element per elementwise
 *          op (exp counts as one, as does a compare); one per input element
 *          of a reduction, three of a softmax (max, exp-and-sum,
 *          normalise); one per element written by a gather; copies (layout,
 *          ranges, onehot) none.
 *   scan   its body's kernels' costs and calls, times its steps.
 * Requires a plan from cg_plan; reads only the plan and the IR. */
#include <string.h>

#include "plan.h"

_Static_assert(CG_MAX_SYMS == NNRT_MAX_SYMS, "cost terms carry one exponent per sym");

/* Element size, from the dtype table (0 for void). */
static int64_t elem_bytes(DType dt) { return ir_dtype_size(dt); }

/* ---- polynomials ---- */

static void poly_add(Arena *a, CgPoly *q, CgMono t) {
  if (t.c == 0) return;
  for (int i = 0; i < q->n; i++)
    if (cg_mono_same_syms(q->t[i], t)) {
      q->t[i].c += t.c;
      return;
    }
  if (q->n == q->cap) {
    int cap = q->cap ? 2 * q->cap : 4;
    CgMono *t2 = arena_alloc(a, sizeof(CgMono) * (size_t)cap);
    if (q->n) memcpy(t2, q->t, sizeof(CgMono) * (size_t)q->n);
    q->t = t2, q->cap = cap;
  }
  q->t[q->n++] = t;
}

/* q += r * factor */
static void poly_add_scaled(Arena *a, CgPoly *q, const CgPoly *r, CgMono factor) {
  for (int i = 0; i < r->n; i++)
    poly_add(a, q, cg_mono_mul(r->t[i], factor));
}

double cg_poly_eval(const CgPoly *q, const int64_t *syms) {
  double s = 0;
  for (int i = 0; i < q->n; i++) {
    double v = (double)q->t[i].c;
    for (int k = 0; k < CG_MAX_SYMS; k++)
      for (int e = 0; e < q->t[i].e[k]; e++)
        v *= (double)syms[k];
    s += v;
  }
  return s;
}

/* ---- bytes ---- */

/* Is a the larger size for most bindings: more symbolic factors, or the
 * same ones with a larger coefficient? */
static bool mono_wider(CgMono a, CgMono b) {
  int ea = 0, eb = 0;
  for (int k = 0; k < CG_MAX_SYMS; k++)
    ea += a.e[k], eb += b.e[k];
  return ea != eb ? ea > eb : a.c > b.c;
}

/* Elements of a buffer a view spans: the dims it does not broadcast. */
static CgMono view_elems(const CgView *v, const Shape *s) {
  CgMono m = cg_mono(1);
  for (int i = 0; i < s->rank; i++)
    if (!cg_mono_is(v->st[i], 0)) m = cg_mono_mul(m, cg_mono_dim(s->d[i]));
  return m;
}

static void kernel_bytes(Arena *a, const CgPlan *p, const CgKernel *k, CgPoly *out) {
  const IrFunc *f = p->f;
  size_t cap = (size_t)(IR_MAX_ARGS * (k->nmem + k->nexp) + 4);
  const CgVal **rd = arena_alloc(a, sizeof(CgVal *) * cap);
  int *nodes = arena_alloc(a, sizeof(int) * cap);
  int n = cg_kernel_reads(p, k, rd, nodes);
  /* One read per buffer: the largest view of it (x and x^T are one read). */
  int *buf = arena_alloc(a, sizeof(int) * (size_t)(n + 1));
  CgMono *size = arena_alloc(a, sizeof(CgMono) * (size_t)(n + 1));
  int nb = 0;
  for (int i = 0; i < n; i++) {
    if (rd[i]->kind != CV_BUF) continue; /* constants and dims are inline */
    const IrNode *nd = &f->nodes[nodes[i]];
    CgMono s = cg_mono_mul(view_elems(&rd[i]->v, &nd->ty.sh), cg_mono(elem_bytes(nd->ty.dt)));
    int j = 0;
    while (j < nb && buf[j] != rd[i]->v.buf)
      j++;
    if (j == nb)
      buf[nb] = rd[i]->v.buf, size[nb++] = s;
    else if (mono_wider(s, size[j]))
      size[j] = s;
  }
  for (int j = 0; j < nb; j++)
    poly_add(a, out, size[j]);
  for (int e = 0; e < k->nexp; e++) {
    const IrNode *nd = &f->nodes[k->exp[e].node];
    poly_add(a, out, cg_mono_mul(cg_mono_numel(&nd->ty.sh, 0), cg_mono(elem_bytes(nd->ty.dt))));
  }
}

/* ---- FLOPs ---- */

static const Shape *shape_of(const IrFunc *f, int node) { return &f->nodes[node].ty.sh; }

/* FLOPs of one member node. */
static CgMono node_flops(const CgPlan *p, int x) {
  const IrFunc *f = p->f;
  const IrNode *nd = &f->nodes[x];
  if (p->mat[x]) return cg_mono(0); /* a copy of a view */
  CgMono out = cg_mono_numel(&nd->ty.sh, 0);
  if (op_is(nd->op, OPF_ELEMWISE | OPF_GATHER)) return out;
  if (op_is(nd->op, OPF_REDUCE)) return cg_mono_numel(shape_of(f, nd->args[0]), 0);
  if (op_is(nd->op, OPF_ROWWISE)) return cg_mono_mul(cg_mono(3), cg_mono_numel(shape_of(f, nd->args[0]), 0));
  if (op_is(nd->op, OPF_CONTRACT)) {
    const Shape *a = shape_of(f, nd->args[0]);
    int64_t kdim = a->d[nd->at.ta ? a->rank - 2 : a->rank - 1];
    return cg_mono_mul(cg_mono(2), cg_mono_mul(out, cg_mono_dim(kdim)));
  }
  if (op_is(nd->op, OPF_WINDOW)) {
    /* Pools (x) and convolutions (x, w); their gradients take dy last. */
    bool pool = (ir_ops[nd->op].attrs & A_KERNEL) != 0;
    const Shape *y = nd->nargs > (pool ? 1 : 2) ? shape_of(f, nd->args[nd->nargs - 1]) : &nd->ty.sh;
    if (pool) return cg_mono_mul(cg_mono_numel(y, 0), cg_mono((int64_t)nd->at.kernel * nd->at.kernel));
    /* 2 per multiply-add over w's C x kh x kw window, per output element */
    return cg_mono_mul(cg_mono(2), cg_mono_mul(cg_mono_numel(y, 0), cg_mono_numel(shape_of(f, nd->args[1]), 1)));
  }
  if (op_is(nd->op, OPF_QGEMM)) {
    /* 2 per multiply-add over a weight column: qmatmul's K (w is [K,N], or
     * [N,K] with tb), qconv2d's C x kh x kw */
    const Shape *w = shape_of(f, nd->args[1]);
    CgMono kdim = nd->op == OP_QMATMUL ? cg_mono_dim(w->d[nd->at.tb ? 1 : 0]) : cg_mono_numel(w, 1);
    return cg_mono_mul(cg_mono(2), cg_mono_mul(out, kdim));
  }
  return cg_mono(0); /* onehot, concat, slice, causal_mask: copies */
}

/* ---- names ---- */

/* A row group that began as elementwise (an export of another shape made it
 * one, ir_group_add) has no root node: "row". */
static const char *kind_name(const CgPlan *p, const CgKernel *k) {
  if (k->kind == CK_EW) return "ew";
  return k->root < 0 ? "row" : ir_ops[p->f->nodes[k->root].op].mnemonic;
}

/* Members' mnemonics, comma-separated; cut at a readable length. */
#define OPS_MAX 240
static const char *ops_list(Arena *a, const CgPlan *p, const CgKernel *k) {
  if (!k->nmem) return "copy"; /* an end-of-step copy */
  char buf[OPS_MAX + 8];
  size_t at = 0;
  for (int i = 0; i < k->nmem; i++) {
    const char *mn = ir_ops[p->f->nodes[k->mem[i]].op].mnemonic;
    size_t len = strlen(mn);
    if (at + len + 1 > OPS_MAX) {
      memcpy(buf + at, at ? ",..." : "...", at ? 4 : 3);
      at += at ? 4 : 3;
      break;
    }
    if (at) buf[at++] = ',';
    memcpy(buf + at, mn, len);
    at += len;
  }
  buf[at] = 0;
  return arena_strndup(a, buf, at);
}

/* ---- kernels ---- */

static void scan_info(Arena *a, const IrModule *m, const CgPlan *p, const CgKernel *k, CgKInfo *ki) {
  const IrNode *S = &p->f->nodes[k->root];
  const IrFunc *body = ir_scan_body(m, &S->at);
  CgPlan *bp = cg_plan(a, m, body, &(CgPlanOptions){.no_summed_gemm = p->no_summed_gemm});
  CgKInfo *inner = cg_kinfo(a, m, bp);
  /* Its steps: axis 0 of the first sequence, as k_scan.c runs it. */
  CgMono steps = S->at.ncarry < S->nargs ? cg_mono_dim(shape_of(p->f, S->args[S->at.ncarry])->d[0]) : cg_mono(1);
  for (int i = 0; i < bp->nks; i++) {
    poly_add_scaled(a, &ki->bytes, &inner[i].bytes, steps);
    poly_add_scaled(a, &ki->flops, &inner[i].flops, steps);
    poly_add_scaled(a, &ki->calls, &inner[i].calls, steps);
  }
  ki->ops = arena_printf(a, "scan @%s", body->name);
}

CgKInfo *cg_kinfo(Arena *a, const IrModule *m, const CgPlan *p) {
  CgKInfo *out = arena_alloc(a, sizeof(CgKInfo) * (size_t)(p->nks + 1));
  for (int i = 0; i < p->nks; i++) {
    const CgKernel *k = &p->ks[i];
    CgKInfo *ki = &out[i];
    ki->name = arena_printf(a, "k%d_%s", i, kind_name(p, k));
    if (k->kind == CK_SCAN) {
      scan_info(a, m, p, k, ki);
      continue;
    }
    ki->ops = ops_list(a, p, k);
    if (k->done_in >= 0) { /* the matmul's GEMM computes it: no cost, no call */
      ki->ops = arena_printf(a, "%s (in k%d)", ki->ops, k->done_in);
      continue;
    }
    kernel_bytes(a, p, k, &ki->bytes);
    for (int j = 0; j < k->nmem; j++)
      poly_add(a, &ki->flops, node_flops(p, k->mem[j]));
    poly_add(a, &ki->calls, cg_mono(1));
  }
  return out;
}
