/* k_elem.c — elementwise kernels and GEMM epilogues as CUDA C.
 *
 * An elementwise kernel (a fused group, one node, or the copy of a view
 * into memory) is one grid-stride loop over the flat index of its exports'
 * shape: each thread unflattens its index into the evaluation's variables
 * (expr.c: dims every access walks as one run share a variable, so a
 * contiguous kernel needs no division), computes the members its exports
 * need and stores each export contiguously. Consecutive threads take
 * consecutive elements, so contiguous loads and stores coalesce. Values
 * that vary with no index (constants, scalars such as Adam's bias
 * corrections) are computed once per thread before the loop.
 *
 * A GEMM group's epilogue (codegen/cpu/k_epilogue.c's members: bias,
 * activation, the activation's gradient, a bias gradient) runs as its own
 * kernel after nnrt_cu_sgemm has written the product, which it reads back
 * as a leaf (the matmul is not a member here). Its elementwise exports are
 * an elementwise loop over the product's elements. A bias gradient (a sum
 * over every axis but the last) is a column loop: a thread per column sums
 * its operand down the rows in row order, as the CPU's epilogue does
 * (rows [0, M) of one column in order), so the sum is the CPU's to the
 * bit whenever the operand is. */
#include "cuda.h"

enum { EW_BLOCK = 256 };

/* The contiguous access of an export over the domain (a store). */
static void contig(const Shape *dom, CgMono st[IR_MAX_RANK]) {
  for (int d = 0; d < dom->rank; d++)
    st[d] = cg_mono_numel(dom, d + 1);
}

/* Values that vary with no index variable, before the loop. */
static bool hoist_uniform(CuEw *E, CuSrc *s) {
  for (int x = 0; x < E->p->f->n; x++)
    if (E->need[x] && !E->vary[x] && !cu_ew_emit(E, s, x)) return false;
  return true;
}

/* ---- 16-byte access ----
 *
 * When the whole domain is one run for every access (one index variable,
 * every varying access unit-stride) of 4-byte elements, each thread first
 * takes four consecutive elements at a time: one 16-byte load per operand
 * (float4, int4), the members evaluated lane by lane, one 16-byte store
 * per export. Pointers are checked at run time (a slice may start
 * anywhere); unaligned ones, and the last n % 4 elements, take the scalar
 * loop. */

static const char *vec4(DType dt) { return dt == DT_F32 ? "float4" : dt == DT_I32 ? "int4" : NULL; }

static bool vectorizable(const CuEw *E, const CgKernel *k) {
  const IrFunc *f = E->p->f;
  if (E->nv != 1) return false;
  for (int a = 0; a < E->nacc; a++) {
    CgMono st = E->dst[a][E->v[0].hi];
    if (st.c != 0 && !cg_mono_is(st, 1)) return false;
  }
  for (int x = 0; x < f->n; x++)
    if (E->acc[x] >= 0 && E->vary[x] && (!vec4(f->nodes[x].ty.dt) || E->p->val[x].v.off.c % 4)) return false;
  for (int x = 0; x < f->n; x++) /* a materialising member reads its source */
    if (E->acc[x] >= 0 && E->vary[x] && E->member[x] && E->p->src[x].v.off.c % 4) return false;
  for (int e = 0; e < k->nexp; e++)
    if (!vec4(f->nodes[k->exp[e].node].ty.dt)) return false;
  return true;
}

/* Where leaf x's elements start: "(ptr + off)". */
static bool leaf_base(CuEw *E, CuSrc *s, int x) {
  const CgVal *v = E->member[x] ? &E->p->src[x] : &E->p->val[x];
  cu_printf(s, "(");
  if (!cu_buf_ptr(E->g, E->p, E->l, s, v->v.buf, E->p->f->nodes[x].ty.dt)) return false;
  cu_printf(s, " + ");
  cu_mono(s, v->v.off);
  cu_printf(s, ")");
  return true;
}

/* The vector loop; leaves "long long nv4" (vectors done) for the tail. */
static bool ew_vector_loop(CuEw *E, CuSrc *s, const CgKernel *k) {
  const IrFunc *f = E->p->f;
  static const char *const lanes[4] = {".x", ".y", ".z", ".w"};
  cu_printf(s, "long long nv4 = 0;\nif (((0ULL");
  for (int x = 0; x < f->n; x++)
    if (E->acc[x] >= 0 && E->vary[x]) {
      cu_printf(s, " | (unsigned long long)");
      if (!leaf_base(E, s, x)) return false;
    }
  for (int e = 0; e < k->nexp; e++) {
    cu_printf(s, " | (unsigned long long)");
    if (!cu_buf_ptr(E->g, E->p, E->l, s, k->exp[e].buf, f->nodes[k->exp[e].node].ty.dt)) return false;
  }
  cu_printf(s, ") & 15) == 0) nv4 = a.work / 4;\n");
  cu_printf(s, "for (long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x; q < nv4; "
               "q += (long long)gridDim.x * blockDim.x) {\n");
  for (int x = 0; x < f->n; x++)
    if (E->acc[x] >= 0 && E->vary[x]) {
      const char *vt = vec4(f->nodes[x].ty.dt);
      cu_printf(s, "%s L%d = ((const %s *)", vt, E->acc[x], vt);
      if (!leaf_base(E, s, x)) return false;
      cu_printf(s, ")[q];\n");
    }
  for (int e = 0; e < k->nexp; e++)
    cu_printf(s, "%s S%d;\n", vec4(f->nodes[k->exp[e].node].ty.dt), e);
  for (int j = 0; j < 4; j++) {
    E->lane = lanes[j];
    cu_printf(s, "{\n");
    for (int e = 0; e < k->nexp; e++) {
      if (!cu_ew_emit(E, s, k->exp[e].node)) return false;
      cu_printf(s, "S%d%s = v%d;\n", e, lanes[j], k->exp[e].node);
    }
    cu_printf(s, "}\n");
    cu_ew_forget(E, 1u);
  }
  E->lane = NULL;
  for (int e = 0; e < k->nexp; e++) {
    const char *vt = vec4(f->nodes[k->exp[e].node].ty.dt);
    cu_printf(s, "((%s *)", vt);
    if (!cu_buf_ptr(E->g, E->p, E->l, s, k->exp[e].buf, f->nodes[k->exp[e].node].ty.dt)) return false;
    cu_printf(s, ")[q] = S%d;\n", e);
  }
  cu_printf(s, "}\n");
  return true;
}

bool cu_kernel_ew(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l) {
  CuSrc *s = &g->src;
  int *targets = arena_alloc(g->arena, sizeof(int) * (size_t)(k->nexp + 1));
  CgMono(*extra)[IR_MAX_RANK] = arena_alloc(g->arena, sizeof *extra * (size_t)(k->nexp + 1));
  for (int e = 0; e < k->nexp; e++) {
    targets[e] = k->exp[e].node;
    contig(&k->domain, extra[e]);
  }
  cu_kernel_open(g, p, index, "ew", EW_BLOCK, 0, l);
  l->work = cg_mono_numel(&k->domain, 0);
  CuEw E;
  cu_ew_init(&E, g, p, k, l, "i", targets, k->nexp, NULL, extra, k->nexp);
  if (!hoist_uniform(&E, s)) return false;
  bool vec = vectorizable(&E, k);
  if (vec && !ew_vector_loop(&E, s, k)) return false;
  /* The scalar loop: every element, or those the vectors left. */
  cu_printf(s, "for (long long t = %s(long long)blockIdx.x * blockDim.x + threadIdx.x; t < a.work; "
               "t += (long long)gridDim.x * blockDim.x) {\n",
            vec ? "4 * nv4 + " : "");
  cu_ew_unflatten(&E, s, "t", cu_ew_all(&E));
  /* Every value first, then the stores: an export may reuse the memory of
   * a buffer a later member reads at the same index (the memory plan's
   * in-place reuse), which a store before that load would overwrite. */
  for (int e = 0; e < k->nexp; e++)
    if (!cu_ew_emit(&E, s, k->exp[e].node)) return false;
  for (int e = 0; e < k->nexp; e++)
    if (!cu_ew_store(&E, s, k->exp[e].node, k->exp[e].buf, E.first_extra + e)) return false;
  cu_printf(s, "}\n");
  cu_kernel_close(g);
  return true;
}

/* ---- GEMM epilogues ---- */

bool cu_kernel_epilogue(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l, const bool *covered) {
  const IrFunc *f = p->f;
  CuSrc *s = &g->src;
#define COVERED(x) ((x) == k->root || (covered && covered[x]))
  /* The evaluation's kernel: the members and exports but the root and the
   * sums; its targets the exports, then the sums' operands, whose extra
   * accesses walk the sums' outputs (stride 0 over the rows). */
  CgKernel ep = *k;
  ep.mem = arena_alloc(g->arena, sizeof(int) * (size_t)k->nmem);
  ep.exp = arena_alloc(g->arena, sizeof(CgExport) * (size_t)k->nexp);
  CgExport *sums = arena_alloc(g->arena, sizeof(CgExport) * (size_t)(k->nexp + 1));
  int nsums = 0;
  ep.nmem = ep.nexp = 0;
  for (int i = 0; i < k->nmem; i++)
    if (!COVERED(k->mem[i]) && !op_is(f->nodes[k->mem[i]].op, OPF_REDUCE)) ep.mem[ep.nmem++] = k->mem[i];
  for (int e = 0; e < k->nexp; e++) {
    const IrNode *nd = &f->nodes[k->exp[e].node];
    if (COVERED(k->exp[e].node)) continue;
    if (op_is(nd->op, OPF_REDUCE)) {
      if (nd->op != OP_SUM) return cu_gen_fail(g, "%s: a GEMM epilogue reduces with %s", f->name, ir_ops[nd->op].mnemonic);
      sums[nsums++] = k->exp[e];
    } else {
      ep.exp[ep.nexp++] = k->exp[e];
    }
  }
#undef COVERED
  if (!ep.nexp && !nsums) return true; /* cuBLASLt did it all: no kernel */
  int r = k->domain.rank, tags[IR_MAX_RANK] = {0}, nt = ep.nexp + nsums;
  tags[r - 1] = 1;
  int *targets = arena_alloc(g->arena, sizeof(int) * (size_t)(nt + 1));
  CgMono(*extra)[IR_MAX_RANK] = arena_alloc(g->arena, sizeof *extra * (size_t)(nt + 1));
  for (int e = 0; e < nt; e++) {
    bool sum = e >= ep.nexp;
    const CgExport *x = sum ? &sums[e - ep.nexp] : &ep.exp[e];
    targets[e] = sum ? f->nodes[x->node].args[0] : x->node;
    contig(&k->domain, extra[e]);
    for (int d = 0; sum && d < r - 1; d++)
      extra[e][d] = cg_mono(0);
  }
  cu_kernel_open(g, p, index, "epilogue", EW_BLOCK, 0, l);
  l->work = cg_mono_numel(&k->domain, 0);
  /* Two evaluations: the exports' over the flat product (its dims may share
   * a variable), the sums' with the last dim apart (rows, then a column). */
  CuEw E;
  if (ep.nexp) {
    cu_ew_init(&E, g, p, &ep, l, "i", targets, ep.nexp, NULL, extra, ep.nexp);
    cu_printf(s, "{\n");
    if (!hoist_uniform(&E, s)) return false;
    cu_for_elems(s, "t");
    cu_ew_unflatten(&E, s, "t", cu_ew_all(&E));
    for (int e = 0; e < ep.nexp; e++) /* values before stores, as in cu_kernel_ew */
      if (!cu_ew_emit(&E, s, ep.exp[e].node)) return false;
    for (int e = 0; e < ep.nexp; e++)
      if (!cu_ew_store(&E, s, ep.exp[e].node, ep.exp[e].buf, E.first_extra + e)) return false;
    cu_printf(s, "}\n}\n");
  }
  if (nsums) {
    cu_ew_init(&E, g, p, &ep, l, "i", targets + ep.nexp, nsums, tags, extra + ep.nexp, nsums);
    cu_printf(s, "{\n");
    if (!hoist_uniform(&E, s)) return false;
    /* The column variable (none for a static last dim of 1: one column),
     * and the row variables, all the others. */
    int cv = cu_ew_var_of(&E, r - 1);
    unsigned rows = cu_ew_all(&E) & ~(cv >= 0 ? 1u << cv : 0u);
    Shape rs = k->domain; /* the product's rows: every dim but the last */
    rs.rank = r - 1;
    CgMono ncols = cg_mono_dim(k->domain.d[r - 1]), nrows = cg_mono_numel(&rs, 0);
    cu_printf(s, "for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < ");
    cu_mono(s, ncols);
    cu_printf(s, "; c += (long long)gridDim.x * blockDim.x) {\n");
    if (cv >= 0) cu_printf(s, "long long i%d = c;\n", cv);
    for (int j = 0; j < nsums; j++)
      cu_printf(s, "float acc%d = 0.f;\n", j);
    cu_printf(s, "for (long long row = 0; row < ");
    cu_mono(s, nrows);
    cu_printf(s, "; row++) {\n");
    cu_ew_unflatten(&E, s, "row", rows);
    for (int j = 0; j < nsums; j++) {
      int x = targets[ep.nexp + j];
      if (!cu_ew_emit(&E, s, x)) return false;
      cu_printf(s, "acc%d += v%d;\n", j, x);
    }
    cu_printf(s, "}\n");
    cu_ew_forget(&E, cu_ew_all(&E));
    for (int j = 0; j < nsums; j++) {
      if (!cu_buf_ptr(g, p, l, s, sums[j].buf, DT_F32)) return false;
      cu_printf(s, "[c] = acc%d;\n", j);
    }
    cu_printf(s, "}\n}\n");
  }
  cu_kernel_close(g);
  return true;
}
