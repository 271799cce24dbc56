/* k_epilogue.c — a GEMM group's epilogue: its elementwise members (bias,
 * activation, the activation's gradient) over one block of the product.
 *
 * nnrt_sgemm_ep (runtime/rt_blas.c) computes C in blocks, each in its own
 * pool task, and calls the epilogue on each block right after computing
 * it, so the members read the product back from cache instead of in a pass
 * of their own over C. The blocks are rectangles of C seen as rows x
 * columns: [M,N], or [G,M,N] computed as one GEMM of G*M rows (k_misc.c),
 * so a row of C is a flat index over every dim of the domain but the last.
 *
 * The epilogue is an elementwise loop nest (nest.c, k_elem.c) over the
 * group's domain in which the matmul is not a member but a leaf: its value
 * is loaded back from its buffer, which the GEMM has just written. The
 * last dim is tagged apart, so it never collapses into the row dims; the
 * nest's row loops take their counters from the flat row (one division per
 * loop per row, and none when the row dims collapse into one loop, as they
 * do unless a member broadcasts along some but not all of them), and the
 * column loop runs over [c0, c1). Every other export is stored at its
 * domain index, as an elementwise kernel stores it.
 *
 * A bias gradient in the group (a sum over every axis but the last) is
 * summed block by block: nnrt_sgemm_ep then gives whole columns (rows
 * [0, M)), so a block zeroes its columns of the sum and adds its rows to
 * them in order, and no other block touches them. */
#include "cg.h"

void cg_kernel_epilogue(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf) {
  const IrFunc *f = p->f;
  /* The nest's kernel: the members and exports but the root and the sums;
   * its targets the exports, then the sums' operands, whose extra accesses
   * walk the sums' outputs (stride 0 over the rows). */
  CgKernel ep = *k;
  ep.mem = arena_alloc(cx->arena, sizeof(int) * (size_t)k->nmem);
  ep.exp = arena_alloc(cx->arena, sizeof(CgExport) * (size_t)k->nexp);
  CgExport *sums = arena_alloc(cx->arena, sizeof(CgExport) * (size_t)(k->nexp + 1));
  int nsums = 0;
  ep.nmem = ep.nexp = 0;
  for (int i = 0; i < k->nmem; i++)
    if (k->mem[i] != k->root && !op_is(f->nodes[k->mem[i]].op, OPF_REDUCE)) ep.mem[ep.nmem++] = k->mem[i];
  for (int e = 0; e < k->nexp; e++)
    if (op_is(f->nodes[k->exp[e].node].op, OPF_REDUCE)) sums[nsums++] = k->exp[e];
    else if (k->exp[e].node != k->root) ep.exp[ep.nexp++] = k->exp[e];
  int r = k->domain.rank, tags[IR_MAX_RANK] = {0}, nt = ep.nexp + nsums;
  tags[r - 1] = 1;
  int *targets = arena_alloc(cx->arena, sizeof(int) * (size_t)(nt + 1));
  CgMono(*extra)[IR_MAX_RANK] = arena_alloc(cx->arena, sizeof *extra * (size_t)(nt + 1));
  for (int e = 0; e < nt; e++) {
    bool sum = e >= ep.nexp;
    const CgExport *x = sum ? &sums[e - ep.nexp] : &ep.exp[e];
    targets[e] = sum ? f->nodes[x->node].args[0] : x->node;
    CgView v;
    cg_view_contig(&v, x->buf, &k->domain);
    for (int d = 0; d < r; d++)
      extra[e][d] = sum && d < r - 1 ? cg_mono(0) : v.st[d];
  }
  CgNest N;
  cg_nest_init(&N, p, &ep, NULL, tags, targets, nt, extra, nt);
  CgFn F;
  cg_kernel_begin_block(cx, p, k, kf, &N, &F, "epilogue");
  LLVMBuilderRef b = cx->b;
  LLVMValueRef r0 = cg_fn_param(&F, kf->nbufs + 1), r1 = cg_fn_param(&F, kf->nbufs + 2);
  LLVMValueRef c0 = cg_fn_param(&F, kf->nbufs + 3), c1 = cg_fn_param(&F, kf->nbufs + 4);
  /* A static last dim of 1 has no loop: the block's columns are [0, 1). */
  int ncol = N.nloops && N.loops[N.nloops - 1].tag == 1, nrow = N.nloops - ncol;
  cg_nest_level(&N, 0);
  CgFor rows, cols, zero;
  for (int j = 0; j < nsums; j++) {
    LLVMValueRef out = cg_buf_ptr(&F, sums[j].buf);
    cg_for_begin(&F, &zero, c0, c1, "zero");
    LLVMSetAlignment(LLVMBuildStore(b, cg_f32(cx, 0), cg_gep(&F, cx->t_f32, out, zero.iv)), 4);
    cg_for_end(&F, &zero);
  }
  cg_for_begin(&F, &rows, r0, r1, "row");
  LLVMValueRef rest = rows.iv;
  for (int l = nrow - 1; l > 0; l--) {
    N.iv[l] = LLVMBuildURem(b, rest, N.ext[l], "");
    rest = LLVMBuildUDiv(b, rest, N.ext[l], "");
  }
  if (nrow) N.iv[0] = rest;
  for (int l = 1; l <= nrow; l++)
    cg_nest_level(&N, l);
  if (ncol) {
    cg_for_begin(&F, &cols, c0, c1, "col");
    N.iv[nrow] = cols.iv;
    cg_nest_level(&N, nrow + 1);
  }
  cg_nest_store_exports(&N);
  for (int j = 0; j < nsums; j++) {
    int e = ep.nexp + j;
    LLVMValueRef at = cg_gep(&F, cx->t_f32, cg_buf_ptr(&F, sums[j].buf), cg_nest_offset(&N, cg_nest_extra(&N, e), N.nloops));
    LLVMValueRef old = LLVMBuildLoad2(b, cx->t_f32, at, "");
    LLVMSetAlignment(old, 4);
    LLVMValueRef sum = LLVMBuildFAdd(b, old, cg_nest_get(&N, targets[e]), "");
    LLVMSetAlignment(LLVMBuildStore(b, sum, at), 4);
  }
  if (ncol) cg_for_end(&F, &cols);
  cg_for_end(&F, &rows);
  cg_kernel_end(kf, &N, &F);
}
