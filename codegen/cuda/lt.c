/* lt.c — cuBLASLt epilogues: which GEMM groups cuBLASLt finishes itself.
 *
 * A GEMM group (a CK_MATMUL kernel with members besides its matmul) runs as
 * nnrt_cu_sgemm and then its epilogue kernel (k_elem.c) over the product.
 * Where the group's first members are one of cuBLASLt's epilogues, the GEMM
 * is nnrt_cu_sgemm_ep instead (runtime/nnrt_abi.h, NNRT_CU_EP_*) and those
 * members cost no pass of their own; any other members (the rest) still run
 * as the epilogue kernel, reading what cuBLASLt wrote. Decided here, once
 * per plan, from the plan alone (build time):
 *
 *   forward   z = matmul + b (b a vector along the product's last axis), and
 *             maybe y = relu(z) or gelu(z):
 *               y only read outside         RELU_BIAS / GELU_BIAS into y;
 *               z and y read (training)     GELU_AUX_BIAS: y, and z as aux
 *                                           (GELU's input, floats); ReLU:
 *                                           RELU_AUX_BIAS, y and z's sign as
 *                                           a bitmask written into z's own
 *                                           memory, when every other reader
 *                                           of z is the backward's step(z)
 *                                           in a group DRELU takes (below);
 *                                           else BIAS into z and relu in the
 *                                           rest;
 *               z alone                     BIAS into z;
 *   backward  d = matmul * step(z), and maybe its bias gradient sum(d) over
 *             every axis but the last: DRELU / DRELU_BGRAD into d (and the
 *             sum), reading the forward's bitmask from z's memory;
 *             d = matmul * gelu'(z) [, sum(d)]: DGELU / DGELU_BGRAD, reading
 *             z's floats (what GELU_AUX_BIAS, or any kernel, stored);
 *             a bias gradient sum(dy) over the batch, a reduction kernel,
 *             and a later plain GEMM x^T dy whose k is the batch: BGRADA
 *             (BGRADB) of that GEMM, and the reduction is not launched.
 * nnc's bias is one value per column of the row-major product, which is
 * cuBLASLt's bias per row of its column-major D (rt_cuda_blas.c maps the
 * layouts; the ABI speaks row-major). The bitmask needs ceil(n / 128) * 16
 * bytes per row of z, so it fits in z's n floats when n >= 4.
 *
 * What stays today's path: a product read outside the group (cuBLASLt's D
 * is the epilogue's result, the product itself is never in memory), a rest
 * that reads a value cuBLASLt computed but did not store, a bias that is
 * not a contiguous f32 vector, GELU's aux with a last axis not a multiple of
 * 8 (cuBLASLt's requirement), and everything under --no-lt-epilogue. */
#include <math.h>
#include <string.h>

#include "cuda.h"

static bool member(const CgPlan *p, const CgKernel *k, int x) { return p->kof[x] == (int)(k - p->ks); }

/* Kernel k's export buffer of node x, or -1. */
static int export_buf(const CgKernel *k, int x) {
  for (int e = 0; e < k->nexp; e++)
    if (k->exp[e].node == x) return k->exp[e].buf;
  return -1;
}

/* Is x read outside kernel k (a dim reads only its shape), or returned? */
static bool read_outside(const CgPlan *p, const CgKernel *k, int x) {
  const IrFunc *f = p->f;
  int own = p->own[x];
  if (own >= 0 && p->bufs[own].kind != CB_WS) return true;
  for (int y = 0; y < f->n; y++)
    for (int j = 0; j < f->nodes[y].nargs; j++)
      if (f->nodes[y].args[j] == x && !member(p, k, y) && f->nodes[y].op != OP_DIM) return true;
  return false;
}

/* A bias the epilogue can read: n contiguous floats along the product's
 * last axis (shape [.., 1, n]), in memory. */
static bool bias_ok(const CgPlan *p, const CgKernel *k, int b, int64_t n) {
  const IrNode *nd = &p->f->nodes[b];
  const CgVal *v = &p->val[b];
  if (member(p, k, b) || nd->ty.dt != DT_F32 || v->kind != CV_BUF || nd->ty.sh.rank < 1) return false;
  int r = nd->ty.sh.rank;
  for (int d = 0; d < r - 1; d++)
    if (nd->ty.sh.d[d] != 1) return false;
  return nd->ty.sh.d[r - 1] == n && (n == 1 || cg_mono_is(v->v.st[r - 1], 1));
}

/* The other operand of a binary member x when one is `of`, or -1. */
static int other_arg(const IrNode *nd, int of) {
  if (nd->nargs != 2) return -1;
  return nd->args[0] == of ? nd->args[1] : nd->args[1] == of ? nd->args[0] : -1;
}

/* Do the members not covered read only covered values in memory (D, or
 * GELU's floats in aux)? */
static bool rest_ok(const CgPlan *p, const CgKernel *k, const CuLt *t) {
  const IrFunc *f = p->f;
  for (int i = 0; i < k->nmem; i++) {
    const IrNode *nd = &f->nodes[k->mem[i]];
    int x = k->mem[i];
    /* A covered value read outside must be one cuBLASLt writes. */
    if (t->covered[x] && x != k->root && x != t->d && x != t->bias && x != t->aux && export_buf(k, x) >= 0)
      return false;
    if (t->covered[x]) continue;
    for (int j = 0; j < nd->nargs; j++) {
      int a = nd->args[j];
      if (t->covered[a] && a != t->d && !(a == t->aux && t->ep == NNRT_CU_EP_GELU_AUX_BIAS)) return false;
    }
  }
  return true;
}

static void cover(CuLt *t, int ep, int d, int bias, int aux, int64_t ldaux, const int *nodes, int n) {
  t->ep = ep, t->d = d, t->bias = bias, t->aux = aux, t->ldaux = ldaux;
  for (int i = 0; i < n; i++)
    if (nodes[i] >= 0) t->covered[nodes[i]] = true;
}

static void uncover(const CgPlan *p, CuLt *t) {
  memset(t->covered, 0, sizeof(bool) * (size_t)p->f->n);
  t->ep = 0, t->d = t->bias = t->aux = -1, t->ldaux = 0, t->done_by = -1;
}

static int64_t mask_ld(int64_t n) { return (n + 127) / 128 * 128; }

/* The forward forms (z = matmul + b, act(z)); t->ep stays 0 when none fits.
 * A RELU_AUX_BIAS choice is tentative: lt_plan confirms it. */
static void match_forward(const CgPlan *p, const CgKernel *k, CuLt *t) {
  const IrFunc *f = p->f;
  int root = k->root, r = k->domain.rank;
  int64_t n = k->domain.d[r - 1];
  int z = -1, b = -1, y = -1;
  for (int i = 0; i < k->nmem && z < 0; i++) {
    const IrNode *nd = &f->nodes[k->mem[i]];
    int o = nd->op == OP_ADD ? other_arg(nd, root) : -1;
    if (o >= 0 && o != root && ir_shape_eq(&nd->ty.sh, &k->domain) && bias_ok(p, k, o, n)) z = k->mem[i], b = o;
  }
  if (z < 0) return;
  for (int i = 0; i < k->nmem && y < 0; i++) {
    const IrNode *nd = &f->nodes[k->mem[i]];
    if ((nd->op == OP_RELU || nd->op == OP_GELU) && nd->args[0] == z && export_buf(k, k->mem[i]) >= 0) y = k->mem[i];
  }
  bool z_out = export_buf(k, z) >= 0, n_static = !IR_IS_SYM(n);
  if (y >= 0) {
    bool relu = f->nodes[y].op == OP_RELU;
    int nodes[3] = {root, z, y};
    if (!z_out)
      cover(t, relu ? NNRT_CU_EP_RELU_BIAS : NNRT_CU_EP_GELU_BIAS, y, b, -1, 0, nodes, 3);
    else if (!relu && n_static && n % 8 == 0)
      cover(t, NNRT_CU_EP_GELU_AUX_BIAS, y, b, z, n, nodes, 3);
    else if (relu && n_static && n >= 4 && p->bufs[export_buf(k, z)].kind == CB_WS)
      cover(t, NNRT_CU_EP_RELU_AUX_BIAS, y, b, z, mask_ld(n), nodes, 3);
    if (t->ep && rest_ok(p, k, t)) return;
    uncover(p, t);
  }
  int nodes[2] = {root, z};
  if (z_out) cover(t, NNRT_CU_EP_BIAS, z, b, -1, 0, nodes, 2);
  if (t->ep && !rest_ok(p, k, t)) uncover(p, t);
}

/* ---- recognising gelu'(z) ----
 *
 * passes/vjp.c writes gelu's derivative as a dozen plain ops on z, which
 * simplify may reorder or fold. So the multiplier of a backward GEMM group
 * is recognised by what it computes, not by its form: its members (never
 * the product) must read only one value z and constants, through ops this
 * evaluator knows, and agree with gelu'(z) (the tanh form's derivative,
 * double precision) at points across GELU's range to 1e-6 relative (the
 * constants are f32s). */

enum { GELU_PTS = 10 };
static const double gelu_pts[GELU_PTS] = {-4, -2.5, -1.3, -0.7, -0.2, 0, 0.1, 0.6, 1.5, 3};

static double gelu_grad_ref(double x) {
  double c = 0.7978845608028654, a = 0.044715, t = tanh(c * (x + a * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * a * x * x);
}

typedef struct GeluEval {
  const CgPlan *p;
  const CgKernel *k;
  int z;       /* the one value read, or -1 so far */
  double *val; /* per node, at the current point */
  int *seen;   /* per node: the point (1-based) val holds, 0: none */
  int pt;
  bool *sub; /* per node: a member of the multiplier's expression */
} GeluEval;

static bool gelu_eval(GeluEval *G, int x, double *out) {
  const IrFunc *f = G->p->f;
  if (G->seen[x] == G->pt) return *out = G->val[x], true;
  const IrNode *nd = &f->nodes[x];
  double v, a = 0, b = 0;
  if (!member(G->p, G->k, x)) {
    const CgVal *cv = &G->p->val[x];
    if (cv->kind == CV_CONST)
      v = cv->cval;
    else if (G->z < 0 || G->z == x)
      G->z = x, v = gelu_pts[G->pt - 1];
    else
      return false;
  } else {
    if (x == G->k->root || nd->ty.dt != DT_F32 || !op_is(nd->op, OPF_ELEMWISE) || nd->nargs < 1 || nd->nargs > 2)
      return false;
    G->sub[x] = true;
    if (!gelu_eval(G, nd->args[0], &a) || (nd->nargs == 2 && !gelu_eval(G, nd->args[1], &b))) return false;
    switch (nd->op) {
    case OP_ADD:
      v = a + b;
      break;
    case OP_SUB:
      v = a - b;
      break;
    case OP_MUL:
      v = a * b;
      break;
    case OP_DIV:
      v = a / b;
      break;
    case OP_NEG:
      v = -a;
      break;
    case OP_TANH:
      v = tanh(a);
      break;
    default:
      return false;
    }
  }
  G->seen[x] = G->pt, G->val[x] = v;
  return *out = v, true;
}

/* Is member g gelu'(z) of one value z? Sets *z and marks g's expression
 * in sub. */
static bool is_gelu_grad(const CgPlan *p, const CgKernel *k, int g, int *z, bool *sub, Arena *arena) {
  int n = p->f->n;
  GeluEval G = {p, k,  -1, arena_alloc(arena, sizeof(double) * (size_t)n), arena_alloc(arena, sizeof(int) * (size_t)n),
                0, sub};
  memset(G.seen, 0, sizeof(int) * (size_t)n);
  for (G.pt = 1; G.pt <= GELU_PTS; G.pt++) {
    double v, want = gelu_grad_ref(gelu_pts[G.pt - 1]);
    if (!gelu_eval(&G, g, &v) || G.z < 0 || !(fabs(v - want) <= 1e-6 * fabs(want) + 1e-7)) return false;
  }
  *z = G.z;
  return true;
}

/* Is z in memory as the backward reads an aux: the domain's shape,
 * row-major from its buffer's start? */
static bool aux_ok(const CgPlan *p, const CgKernel *k, int z) {
  const CgVal *v = &p->val[z];
  return !member(p, k, z) && v->kind == CV_BUF && p->f->nodes[z].ty.dt == DT_F32 &&
         ir_shape_eq(&p->f->nodes[z].ty.sh, &k->domain) && cg_view_rowmajor(&v->v, &k->domain) &&
         cg_mono_is(v->v.off, 0);
}

/* The backward forms: d = matmul * step(z) or matmul * gelu'(z), and maybe
 * its bias gradient sum(d). A DRELU is tentative until lt_plan finds z's
 * bitmask written by a forward RELU_AUX_BIAS; DGELU reads z's floats. */
static void match_backward(CuGen *gen, const CgPlan *p, const CgKernel *k, CuLt *t) {
  const IrFunc *f = p->f;
  int root = k->root, r = k->domain.rank;
  int64_t n = k->domain.d[r - 1];
  if (IR_IS_SYM(n) || n < 4) return;
  for (int i = 0; i < k->nmem; i++) {
    int d = k->mem[i], g = other_arg(&f->nodes[d], root), z = -1;
    if (f->nodes[d].op != OP_MUL || g < 0 || g == root || !member(p, k, g) || export_buf(k, d) < 0) continue;
    int sum = -1;
    for (int j = 0; j < k->nmem && sum < 0; j++)
      if (f->nodes[k->mem[j]].op == OP_SUM && f->nodes[k->mem[j]].args[0] == d) sum = k->mem[j];
    int nodes[4] = {root, g, d, sum};
    if (f->nodes[g].op == OP_STEP) {
      z = f->nodes[g].args[0];
      if (aux_ok(p, k, z))
        cover(t, sum >= 0 ? NNRT_CU_EP_DRELU_BGRAD : NNRT_CU_EP_DRELU, d, sum, z, mask_ld(n), nodes, 4);
    } else if (n % 8 == 0 && is_gelu_grad(p, k, g, &z, t->covered, gen->arena) && aux_ok(p, k, z)) {
      cover(t, sum >= 0 ? NNRT_CU_EP_DGELU_BGRAD : NNRT_CU_EP_DGELU, d, sum, z, n, nodes, 4);
    }
    if (t->ep && rest_ok(p, k, t)) return;
    uncover(p, t);
  }
}

/* Is every reader of z outside kernel fk a step(z) that a tentative DRELU
 * kernel takes? (A dim only reads z's shape.) */
static bool mask_readers_ok(const CgPlan *p, const CuLt *lt, int fk, int z) {
  const IrFunc *f = p->f;
  for (int x = 0; x < f->n; x++) {
    const IrNode *nd = &f->nodes[x];
    for (int j = 0; j < nd->nargs; j++) {
      if (nd->args[j] != z || p->kof[x] == fk || nd->op == OP_DIM) continue;
      int bk = p->kof[x];
      if (nd->op != OP_STEP || bk < 0 || lt[bk].aux != z || !lt[bk].covered[x] ||
          (lt[bk].ep != NNRT_CU_EP_DRELU && lt[bk].ep != NNRT_CU_EP_DRELU_BGRAD))
        return false;
    }
  }
  return true;
}

/* ---- an operand's bias gradient (BGRADA, BGRADB) ----
 *
 * A linear layer's bias gradient is the sum of dy over the batch, and its
 * weight gradient x^T dy a GEMM whose k is the batch: the sum is a
 * reduction kernel of its own, which the GEMM can compute instead (its
 * operand's sum over k, BGRADA for the ABI's B, BGRADB for its A). Only
 * for a later GEMM with no epilogue of its own, with nothing in between
 * (nor the GEMM) reading the sum: the sum's memory is live from the
 * reduction on, so writing it later is safe, and its readers come after. */

/* Does plain GEMM kernel m sum operand x over k, as reduction s does? Sets
 * *ep. */
static bool sums_operand(const CgPlan *p, const CgKernel *m, int x, int *ep) {
  const IrNode *mm = &p->f->nodes[m->root];
  if (mm->op != OP_MATMUL || mm->ty.dt != DT_F32 || mm->ty.sh.rank != 2 || p->f->nodes[mm->args[0]].ty.sh.rank != 2 ||
      p->f->nodes[mm->args[1]].ty.sh.rank != 2 || mm->args[0] == mm->args[1])
    return false;
  /* x stored [k, n] as B (not transposed), or [k, m] as A transposed. */
  if (mm->args[1] == x && !mm->at.tb)
    *ep = NNRT_CU_EP_BGRADA;
  else if (mm->args[0] == x && mm->at.ta)
    *ep = NNRT_CU_EP_BGRADB;
  else
    return false;
  return true;
}

static void match_operand_sums(const CgPlan *p, CuLt *lt) {
  const IrFunc *f = p->f;
  for (int r = 0; r < p->nks; r++) {
    const CgKernel *k = &p->ks[r];
    int s = k->nmem == 1 ? k->mem[0] : -1, ep = 0;
    const IrNode *nd = s >= 0 ? &f->nodes[s] : NULL;
    if (k->kind != CK_REDUCE || !nd || nd->op != OP_SUM || nd->ty.dt != DT_F32 || nd->at.naxes != 1 || nd->at.axes[0] ||
        export_buf(k, s) < 0 || f->nodes[nd->args[0]].ty.sh.rank != 2)
      continue;
    int x = nd->args[0];
    /* x in memory row-major, and not a global (an update might write it). */
    if (p->val[x].kind != CV_BUF || !cg_view_rowmajor(&p->val[x].v, &f->nodes[x].ty.sh) ||
        p->bufs[p->val[x].v.buf].kind == CB_GLOBAL)
      continue;
    /* The first reader of the sum bounds the GEMMs that may compute it. */
    int first = p->nks;
    for (int y = 0; y < f->n; y++)
      for (int j = 0; j < f->nodes[y].nargs; j++)
        if (f->nodes[y].args[j] == s && f->nodes[y].op != OP_DIM)
          first = p->kof[y] < 0 ? -1 : p->kof[y] < first ? p->kof[y] : first;
    for (int m = r + 1; m < first; m++) {
      const CgKernel *g = &p->ks[m];
      if (g->kind == CK_MATMUL && g->nmem == 1 && !lt[m].ep && sums_operand(p, g, x, &ep)) {
        lt[m].ep = ep, lt[m].d = g->root, lt[m].bias = s;
        lt[r].done_by = m;
        break;
      }
    }
  }
}

static void lt_plan(CuGen *g, const CgPlan *p) {
  CuLt *lt = arena_alloc(g->arena, sizeof(CuLt) * (size_t)(p->nks + 1));
  g->lt_plan = p, g->lt = lt;
  for (int i = 0; i < p->nks; i++) {
    lt[i].covered = arena_alloc(g->arena, sizeof(bool) * (size_t)(p->f->n + 1));
    uncover(p, &lt[i]);
    const CgKernel *k = &p->ks[i];
    const IrNode *root = k->root >= 0 ? &p->f->nodes[k->root] : NULL;
    if (!g->lt_on || k->kind != CK_MATMUL || k->nmem < 2 || root->op != OP_MATMUL || root->ty.dt != DT_F32 ||
        read_outside(p, k, k->root))
      continue;
    match_forward(p, k, &lt[i]);
    if (!lt[i].ep) match_backward(g, p, k, &lt[i]);
  }
  /* The bitmask replaces z in memory: every reader must take it as one. */
  bool *keep = arena_alloc(g->arena, sizeof(bool) * (size_t)(p->nks + 1));
  for (int i = 0; i < p->nks; i++)
    if (lt[i].ep == NNRT_CU_EP_RELU_AUX_BIAS && !mask_readers_ok(p, lt, i, lt[i].aux)) {
      const CgKernel *k = &p->ks[i];
      int z = lt[i].aux, nodes[2] = {k->root, z};
      uncover(p, &lt[i]);
      cover(&lt[i], NNRT_CU_EP_BIAS, z, -1, -1, 0, nodes, 2);
      for (int j = 0; j < p->f->nodes[z].nargs; j++) /* the bias: z's operand that is not the product */
        if (p->f->nodes[z].args[j] != k->root) lt[i].bias = p->f->nodes[z].args[j];
      if (!rest_ok(p, k, &lt[i])) uncover(p, &lt[i]);
    } else if (lt[i].ep == NNRT_CU_EP_RELU_AUX_BIAS) {
      keep[i] = true;
    }
  if (g->lt_on) match_operand_sums(p, lt);
  /* A DRELU stands only on a kept forward's mask. */
  for (int i = 0; i < p->nks; i++)
    if (lt[i].ep == NNRT_CU_EP_DRELU || lt[i].ep == NNRT_CU_EP_DRELU_BGRAD) {
      int fk = p->kof[lt[i].aux];
      if (fk < 0 || !keep[fk] || lt[fk].aux != lt[i].aux) uncover(p, &lt[i]);
    }
}

const CuLt *cu_lt(CuGen *g, const CgPlan *p, int index) {
  if (g->lt_plan != p) lt_plan(g, p);
  return &g->lt[index];
}

/* "%name" or "%<id>", as the IR prints it. */
static void node_ref(CuSrc *s, const IrFunc *f, int x) {
  if (f->nodes[x].name)
    cu_printf(s, "%%%s", f->nodes[x].name);
  else
    cu_printf(s, "%%%d", x);
}

bool cu_kernel_lt_sum(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l) {
  const CuLt *t = cu_lt(g, p, index);
  const IrFunc *f = p->f;
  CuSrc line = {0};
  cu_printf(&line, "nnc_%s_k%d_matmul: cuBLASLt epilogue %s, bias gradient ", f->name, t->done_by,
            nnrt_cu_ep_name(g->lt[t->done_by].ep));
  node_ref(&line, f, k->mem[0]);
  cu_printf(&line, " (kernel k%d's sum, not launched)", index);
  cu_printf(&g->src, "/* %s */\n", line.s);
  if (g->verbose) fprintf(g->verbose, "nnc: gemm %s\n", line.s);
  cu_free(&line);
  l->kid = -1;
  return true;
}

bool cu_kernel_gemm(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l) {
  const CuLt *t = cu_lt(g, p, index);
  const IrFunc *f = p->f;
  CuSrc line = {0};
  cu_printf(&line, "nnc_%s_k%d_matmul: ", f->name, index);
  if (!t->ep) {
    cu_printf(&line, "nnrt_cu_sgemm, then its epilogue kernel");
  } else {
    cu_printf(&line, "cuBLASLt epilogue %s into ", nnrt_cu_ep_name(t->ep));
    node_ref(&line, f, t->d);
    if (t->bias >= 0) {
      cu_printf(&line,
                t->ep == NNRT_CU_EP_DRELU_BGRAD || t->ep == NNRT_CU_EP_DGELU_BGRAD ? ", bias gradient " : ", bias ");
      node_ref(&line, f, t->bias);
    }
    if (t->aux >= 0) {
      bool mask = t->ep == NNRT_CU_EP_RELU_AUX_BIAS || t->ep == NNRT_CU_EP_DRELU || t->ep == NNRT_CU_EP_DRELU_BGRAD;
      cu_printf(&line, mask ? ", ReLU mask in the memory of " : ", aux (GELU's input) ");
      node_ref(&line, f, t->aux);
    }
    bool rest = false;
    for (int i = 0; i < k->nmem; i++)
      rest |= !t->covered[k->mem[i]];
    cu_printf(&line, rest ? "; the rest in its epilogue kernel" : "; no epilogue kernel");
  }
  cu_printf(&g->src, "/* %s */\n", line.s);
  if (g->verbose) fprintf(g->verbose, "nnc: gemm %s\n", line.s);
  cu_free(&line);
  return cu_kernel_epilogue(g, p, k, index, l, t->ep ? t->covered : NULL);
}
