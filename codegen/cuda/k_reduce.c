/* k_reduce.c — reductions (CK_REDUCE: sum, mean, max over axes) and row
 * kernels (CK_ROW: softmax, log_softmax and the row groups of ir/groups.c:
 * cross-entropy, layernorm, their gradients) as CUDA C, with the semantics
 * of codegen/cpu/k_reduce.c and ir/interp.c.
 *
 * Both split their work into independent units (an output element of a
 * reduction, a row of a row kernel), each summed by a team of threads that
 * stride over its elements, each thread keeping a partial result in a
 * register, then combined: by warp shuffles (__shfl_xor_sync, so every lane
 * ends with the same value) and, for teams wider than a warp, through a
 * fixed __shared__ array read back in warp order by every thread. The team
 * size follows the unit's length: a warp for a short row or reduction, the
 * whole block for a long or symbolic one; and for a reduction whose output
 * is the contiguous axis (a bias gradient, sum over the batch of [B,256])
 * the team is spread across the block so that the 32 threads of a warp read
 * 32 neighbouring outputs' elements together (coalesced), eight warps
 * splitting the reduced range. Values are f32 partial sums: the order of
 * the adds differs from the CPU's, which stays within f32 rounding.
 *
 * A row kernel (CPU comment in codegen/cpu/k_reduce.c) makes passes over
 * each row: every needed node gets avail, the first pass that knows it (a
 * value from outside 0, an elementwise member its operands' latest, a
 * reduction reducing in pass p p + 1, a softmax p + 2: its max in p, its
 * sum of exp(x - max) in p + 1). Before a pass the row's values known by
 * then (those constant along the row) are declared at row scope and the
 * per-row exports stored; in the pass each root accumulates what it reduces
 * there and each export of the domain's shape is stored in its avail pass;
 * after the pass the team combines the accumulators. Elementwise members
 * come from expr.c's evaluator (CuEw); roots get their values here. */
#include <math.h>

#include "cuda.h"

#define BLOCK 256

typedef enum { R_SUM, R_MAX } RKind;

static void identity(CuSrc *s, RKind r) { cu_const(s, r == R_MAX ? -INFINITY : 0.0, DT_F32); }

/* acc = combine(acc, x): a sum, or llvm.maximum's max (a NaN wins, as on
 * the CPU). Commutative, so lanes exchanging values by xor agree. */
static void combine(CuSrc *s, RKind r, const char *acc, const char *x) {
  if (r == R_MAX)
    cu_printf(s, "{ const float c_ = %s; if (c_ != c_ || c_ > %s) %s = c_; }\n", x, acc, acc);
  else
    cu_printf(s, "%s += %s;\n", acc, x);
}

/* Every lane of each warp ends with the combination of the warp's values. */
static void warp_combine(CuSrc *s, RKind r, const char *v) {
  cu_printf(s, "for (int o_ = 16; o_ > 0; o_ >>= 1) {\n");
  cu_printf(s, "  const float x_ = __shfl_xor_sync(0xffffffffu, %s, o_);\n  ", v);
  char x[] = "x_";
  combine(s, r, v, x);
  cu_printf(s, "}\n");
}

/* Combines the values vals[0..n) of the block's threads (every thread
 * holds one of each): warp shuffles, then slot i of red[] per warp, read
 * back in warp order by every thread, so all agree. red must be declared
 * as red[NSLOT][32] with NSLOT >= n; every thread must reach this. */
static void block_combine(CuSrc *s, const RKind *r, char (*vals)[32], int n) {
  for (int i = 0; i < n; i++) {
    warp_combine(s, r[i], vals[i]);
    cu_printf(s, "if ((threadIdx.x & 31) == 0) red[%d][threadIdx.x >> 5] = %s;\n", i, vals[i]);
  }
  cu_printf(s, "__syncthreads();\n");
  for (int i = 0; i < n; i++) {
    cu_printf(s, "%s = red[%d][0];\n", vals[i], i);
    cu_printf(s, "for (int w_ = 1; w_ < (int)(blockDim.x >> 5); w_++) ");
    char x[32];
    snprintf(x, sizeof x, "red[%d][w_]", i);
    combine(s, r[i], vals[i], x);
  }
  cu_printf(s, "__syncthreads();\n");
}

/* ---- reductions ---- */

/* How a reduction's units (output elements) are shared out: a block of
 * BLOCK threads works on `cols` outputs at once, `lanes` threads each
 * (cols * lanes == BLOCK). lanes_low: a thread's lane is its low bits (the
 * lanes of a warp read neighbouring elements of one output's reduction),
 * else its high bits (the threads of a warp read neighbouring outputs). */
typedef struct RTeam {
  int cols, lanes;
  bool lanes_low;
} RTeam;

/* The reduction's team: by which of the domain's dims is innermost (the
 * contiguous one of a row-major operand) and how long the reduction is. */
static RTeam reduce_team(const Shape *dom, const bool *red, CgMono count) {
  int last = dom->rank - 1;
  while (last > 0 && dom->d[last] == 1)
    last--;
  bool symbolic = !cg_mono_is(count, count.c);
  if (last >= 0 && !red[last]) /* outputs contiguous: warps across outputs */
    return !symbolic && count.c <= 8 ? (RTeam){BLOCK, 1, false} : (RTeam){32, BLOCK / 32, false};
  if (!symbolic && count.c <= 16) return (RTeam){BLOCK, 1, true};
  if (!symbolic && count.c <= 1024) return (RTeam){BLOCK / 32, 32, true};
  return (RTeam){1, BLOCK, true};
}

/* The team's combination of `acc` into lane 0 of each output. */
static void team_combine(CuSrc *s, RTeam t, RKind r) {
  char acc[] = "acc";
  if (t.lanes == 1) return;
  if (t.lanes_low) {
    warp_combine(s, r, acc);
    if (t.lanes == 32) return;
    cu_printf(s, "if ((lane & 31) == 0) red[col][lane >> 5] = acc;\n__syncthreads();\n");
    cu_printf(s, "if (lane == 0)\n  for (int w_ = 1; w_ < %d; w_++) ", t.lanes / 32);
    combine(s, r, acc, "red[col][w_]");
  } else {
    cu_printf(s, "red[lane][col] = acc;\n__syncthreads();\n");
    cu_printf(s, "if (lane == 0)\n  for (int l_ = 1; l_ < %d; l_++) ", t.lanes);
    combine(s, r, acc, "red[l_][col]");
  }
  cu_printf(s, "__syncthreads();\n");
}

bool cu_kernel_reduce(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l) {
  const IrFunc *f = p->f;
  const IrNode *root = &f->nodes[k->root];
  const Shape *dom = &k->domain;
  RKind r = root->op == OP_MAX ? R_MAX : R_SUM;
  bool red[IR_MAX_RANK] = {0};
  int tags[IR_MAX_RANK];
  CgMono count = cg_mono(1);
  for (int j = 0; j < root->at.naxes; j++)
    red[root->at.axes[j]] = true;
  for (int d = 0; d < dom->rank; d++) {
    tags[d] = red[d];
    if (red[d]) count = cg_mono_mul(count, cg_mono_dim(dom->d[d]));
  }
  CgMono nout = cg_mono_numel(&root->ty.sh, 0);
  RTeam t = reduce_team(dom, red, count);
  cu_kernel_open(g, p, index, ir_ops[root->op].mnemonic, BLOCK, 0, l);
  /* Work items: (output, lane) pairs, one per thread, so that the grid
   * the runtime sizes from a.work gives each output its team. */
  l->work = cg_mono_mul(nout, cg_mono(t.lanes));
  CuSrc *s = &g->src;
  int src = root->args[0];
  CuEw E;
  cu_ew_init(&E, g, p, k, l, "i", &src, 1, tags, NULL, 0);
  unsigned kept = 0, rmask = 0;
  for (int d = 0; d < dom->rank; d++) {
    int v = cu_ew_var_of(&E, d);
    if (v >= 0) *(red[d] ? &rmask : &kept) |= 1u << v;
  }
  if (t.lanes > 1 && !(t.lanes_low && t.lanes == 32))
    cu_printf(s, "  __shared__ float red[%d][%d];\n", t.lanes_low ? t.cols : t.lanes, t.lanes_low ? 32 : t.cols);
  cu_printf(s, "  const long long nout = ");
  cu_mono(s, nout);
  cu_printf(s, ", count = ");
  cu_mono(s, count);
  cu_printf(s, ";\n  float *out = ");
  if (!cu_buf_ptr(g, p, l, s, k->exp[0].buf, DT_F32)) return false;
  cu_printf(s, ";\n");
  if (t.lanes_low)
    cu_printf(s, "  const int lane = threadIdx.x %% %d, col = threadIdx.x / %d;\n", t.lanes, t.lanes);
  else
    cu_printf(s, "  const int col = threadIdx.x %% %d, lane = threadIdx.x / %d;\n", t.cols, t.cols);
  /* Block-uniform: every thread of a block runs the same passes, so the
   * team's __syncthreads are reached by all. */
  cu_printf(s, "  for (long long base = (long long)blockIdx.x * %d; base < nout; base += (long long)gridDim.x * %d) {\n",
            t.cols, t.cols);
  cu_printf(s, "    const long long o = base + col;\n    float acc = ");
  identity(s, r);
  cu_printf(s, ";\n    if (o < nout) {\n");
  cu_ew_unflatten(&E, s, "o", kept);
  cu_printf(s, "      for (long long j = lane; j < count; j += %d) {\n", t.lanes);
  cu_ew_unflatten(&E, s, "j", rmask);
  if (!cu_ew_emit(&E, s, src)) return false;
  char x[32];
  snprintf(x, sizeof x, "v%d", src);
  combine(s, r, "acc", x);
  cu_printf(s, "      }\n    }\n");
  cu_ew_forget(&E, ~0u);
  team_combine(s, t, r);
  cu_printf(s, "    if (lane == 0 && o < nout) out[o] = acc%s;\n  }\n", root->op == OP_MEAN ? " / (float)count" : "");
  cu_kernel_close(g);
  return true;
}

/* ---- row kernels ---- */

typedef struct RowRoot {
  int node;
  RKind r;  /* what acc accumulates (a softmax: its max) */
  int pass; /* its first (a reduction: only) pass */
  bool soft;
} RowRoot;

typedef struct RowK {
  CuEw E;
  RowRoot *roots;
  int nroots;
  int *root_of; /* per node: index in roots, or -1 */
  int *avail;
  int rowvar;      /* the row axis's index variable, or -1 (a row of one) */
  unsigned outer;  /* the other index variables */
  bool team_block; /* a block per row, else a warp */
} RowK;

/* A softmax's value at the current element (its max and sum are known by
 * its pass + 2); a reduction's is declared at row scope after its pass. */
static bool row_root_value(CuEw *E, CuSrc *s, int node, void *ctx) {
  RowK *K = ctx;
  const IrNode *nd = &E->p->f->nodes[node];
  RowRoot *r = &K->roots[K->root_of[node]];
  if (!r->soft) return cu_gen_fail(E->g, "row kernel: reduction %%%d read before its pass", node);
  if (nd->op == OP_LOG_SOFTMAX)
    cu_printf(s, "const float v%d = v%d - ra%d - logf(rs%d);\n", node, nd->args[0], node, node);
  else
    cu_printf(s, "const float v%d = expf(v%d - ra%d) / rs%d;\n", node, nd->args[0], node, node);
  return true;
}

/* One row's passes; the row's outer index variables are set. */
static bool row_passes(RowK *K, const CgKernel *k, const bool *full, int last) {
  CuEw *E = &K->E;
  CuSrc *s = &E->g->src;
  const IrFunc *f = E->p->f;
  unsigned rowbit = K->rowvar >= 0 ? 1u << K->rowvar : 0;
  for (int i = 0; i < K->nroots; i++) {
    RowRoot *r = &K->roots[i];
    cu_printf(s, "float ra%d = ", r->node);
    identity(s, r->r);
    cu_printf(s, ";\n");
    if (r->soft) cu_printf(s, "float rs%d = 0.0f;\n", r->node);
  }
  for (int pass = 0; pass <= last + 1; pass++) {
    /* The row's values known by now: declared here, at row scope, so the
     * loop below and later passes see them. */
    for (int x = 0; x < f->n; x++)
      if (E->need[x] && !E->done[x] && !(E->vary[x] & rowbit) && K->avail[x] <= pass &&
          (K->root_of[x] < 0 || K->roots[K->root_of[x]].soft))
        if (!cu_ew_emit(E, s, x)) return false;
    for (int e = 0; e < k->nexp; e++)
      if (!full[e] && K->avail[k->exp[e].node] == pass) {
        cu_printf(s, "if (threadIdx.x %% %d == 0) {\n", K->team_block ? BLOCK : 32);
        if (!cu_ew_store(E, s, k->exp[e].node, k->exp[e].buf, E->first_extra + e)) return false;
        cu_printf(s, "}\n");
      }
    if (pass > last) break;
    cu_printf(s, "for (long long j = threadIdx.x %% %d; j < len; j += %d) {\n", K->team_block ? BLOCK : 32,
              K->team_block ? BLOCK : 32);
    if (K->rowvar >= 0) cu_printf(s, "const long long i%d = j;\n", K->rowvar);
    for (int i = 0; i < K->nroots; i++) {
      RowRoot *r = &K->roots[i];
      int arg = f->nodes[r->node].args[0];
      char x[40], acc[24];
      if (pass != r->pass && !(r->soft && pass == r->pass + 1)) continue;
      if (!cu_ew_emit(E, s, arg)) return false;
      if (pass == r->pass) {
        snprintf(x, sizeof x, "v%d", arg);
        snprintf(acc, sizeof acc, "ra%d", r->node);
        combine(s, r->r, acc, x);
      } else {
        cu_printf(s, "rs%d += expf(v%d - ra%d);\n", r->node, arg, r->node);
      }
    }
    for (int e = 0; e < k->nexp; e++)
      if (full[e] && K->avail[k->exp[e].node] == pass) {
        if (!cu_ew_emit(E, s, k->exp[e].node)) return false;
        if (!cu_ew_store(E, s, k->exp[e].node, k->exp[e].buf, E->first_extra + e)) return false;
      }
    cu_printf(s, "}\n");
    /* Values declared in the loop vary along the row (the others were
     * declared before it); a row of one declares none there. */
    if (rowbit) cu_ew_forget(E, rowbit);
    /* The team combines what this pass accumulated. */
    RKind rk[64];
    char vals[64][32];
    int n = 0;
    for (int i = 0; i < K->nroots && n < 64; i++) {
      RowRoot *r = &K->roots[i];
      if (pass == r->pass) rk[n] = r->r, snprintf(vals[n++], 32, "ra%d", r->node);
      else if (r->soft && pass == r->pass + 1) rk[n] = R_SUM, snprintf(vals[n++], 32, "rs%d", r->node);
    }
    if (n == 64) return cu_gen_fail(E->g, "row kernel: more than 64 reductions in one pass");
    if (K->team_block) block_combine(s, rk, vals, n);
    else
      for (int i = 0; i < n; i++)
        warp_combine(s, rk[i], vals[i]);
    /* Reductions finished in this pass: their values, at row scope. */
    for (int i = 0; i < K->nroots; i++) {
      RowRoot *r = &K->roots[i];
      if (r->soft || pass != r->pass) continue;
      const IrNode *nd = &f->nodes[r->node];
      if (E->need[r->node]) {
        cu_printf(s, "const float v%d = ra%d%s;\n", r->node, r->node, nd->op == OP_MEAN ? " / (float)len" : "");
        E->done[r->node] = true;
      }
    }
  }
  return true;
}

/* The passes' bookkeeping (see the header): roots, avail, the last pass. */
static int row_plan(RowK *K, const CgPlan *p, const CgKernel *k) {
  const IrFunc *f = p->f;
  int last = cg_row_passes(p, k, K->E.need, K->avail);
  for (int x = 0; x < f->n; x++) {
    K->root_of[x] = -1;
    if (!K->E.need[x] || !K->E.member[x] || p->mat[x]) continue;
    const IrNode *nd = &f->nodes[x];
    if (op_is(nd->op, OPF_ELEMWISE)) continue;
    bool soft = op_is(nd->op, OPF_ROWWISE);
    RowRoot *r = &K->roots[K->root_of[x] = K->nroots++];
    *r = (RowRoot){.node = x, .r = soft || nd->op == OP_MAX ? R_MAX : R_SUM, .pass = K->avail[x] - (soft ? 2 : 1),
                   .soft = soft};
    /* A reduction's value is one per row: constant along the row axis. */
    if (!soft) cu_ew_set_vary(&K->E, x, K->outer);
  }
  return last;
}

bool cu_kernel_row(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l) {
  const IrFunc *f = p->f;
  const Shape *dom = &k->domain;
  int a = k->axis, tags[IR_MAX_RANK];
  for (int d = 0; d < dom->rank; d++)
    tags[d] = d < a ? 0 : d == a ? 2 : 1;
  /* Exports: of the domain's shape, stored contiguously per element; else
   * one value per row, contiguous over the other dims (stride 0 along a). */
  int ne = k->nexp;
  CgMono(*extra)[IR_MAX_RANK] = arena_alloc(g->arena, sizeof *extra * (size_t)(ne + 1));
  int *targets = arena_alloc(g->arena, sizeof(int) * (size_t)(ne + 1));
  bool *full = arena_alloc(g->arena, (size_t)ne + 1);
  for (int e = 0; e < ne; e++) {
    targets[e] = k->exp[e].node;
    full[e] = ir_shape_eq(&f->nodes[k->exp[e].node].ty.sh, dom);
    CgMono st = cg_mono(1);
    for (int d = dom->rank - 1; d >= 0; d--) {
      extra[e][d] = full[e] || d != a ? st : cg_mono(0);
      if (full[e] || d != a) st = cg_mono_mul(st, cg_mono_dim(dom->d[d]));
    }
  }
  RowK K = {.roots = arena_alloc(g->arena, sizeof(RowRoot) * (size_t)(k->nmem + 1)),
            .root_of = arena_alloc(g->arena, sizeof(int) * (size_t)(f->n + 1)),
            .avail = arena_alloc(g->arena, sizeof(int) * (size_t)(f->n + 1))};
  CgMono len = cg_mono_dim(dom->d[a]), nrows = cg_mono(1);
  for (int d = 0; d < dom->rank; d++)
    if (d != a) nrows = cg_mono_mul(nrows, cg_mono_dim(dom->d[d]));
  /* A warp per row when the row is short (a warp's lanes cover it in a few
   * strides, no __syncthreads), else the whole block. */
  K.team_block = !cg_mono_is(len, len.c) || len.c > 512;
  const char *what = "row";
  cu_ew_init(&K.E, g, p, k, l, "i", targets, ne, tags, extra, ne);
  K.rowvar = cu_ew_var_of(&K.E, a);
  for (int v = 0; v < K.E.nv; v++)
    if (v != K.rowvar) K.outer |= 1u << v;
  int last = row_plan(&K, p, k);
  if (K.nroots == 1) what = ir_ops[f->nodes[K.roots[0].node].op].mnemonic;
  K.E.root_value = row_root_value;
  K.E.root_ctx = &K;
  cu_kernel_open(g, p, index, what, BLOCK, K.team_block, l);
  l->work = K.team_block ? nrows : cg_mono_mul(nrows, cg_mono(32));
  CuSrc *s = &g->src;
  int nslot = 1;
  for (int pass = 0; pass <= last; pass++) {
    int n = 0;
    for (int i = 0; i < K.nroots; i++)
      n += K.roots[i].pass == pass || (K.roots[i].soft && K.roots[i].pass + 1 == pass);
    if (n > nslot) nslot = n;
  }
  if (K.team_block) cu_printf(s, "  __shared__ float red[%d][32];\n", nslot);
  cu_printf(s, "  const long long len = ");
  cu_mono(s, len);
  cu_printf(s, ";\n");
  if (K.team_block)
    cu_for_rows(s, "r");
  else /* warp-uniform: a warp's lanes run the same rows */
    cu_printf(s, "  const long long nrows = a.work >> 5;\n"
                 "  for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < nrows;"
                 " r += ((long long)gridDim.x * blockDim.x) >> 5) {\n");
  cu_ew_unflatten(&K.E, s, "r", K.outer);
  if (!row_passes(&K, k, full, last)) return false;
  cu_ew_forget(&K.E, ~0u);
  cu_printf(s, "}\n");
  cu_kernel_close(g);
  return true;
}
