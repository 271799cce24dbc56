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
 * domain index, as an elementwise kernel stores it. */
#include "cg.h"

void cg_kernel_epilogue(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf) {
  /* The nest's kernel: the members and exports but the root. */
  CgKernel ep = *k;
  ep.mem = arena_alloc(cx->arena, sizeof(int) * (size_t)k->nmem);
  ep.exp = arena_alloc(cx->arena, sizeof(CgExport) * (size_t)k->nexp);
  ep.nmem = ep.nexp = 0;
  for (int i = 0; i < k->nmem; i++)
    if (k->mem[i] != k->root) ep.mem[ep.nmem++] = k->mem[i];
  for (int e = 0; e < k->nexp; e++)
    if (k->exp[e].node != k->root) ep.exp[ep.nexp++] = k->exp[e];
  int r = k->domain.rank, tags[IR_MAX_RANK] = {0};
  tags[r - 1] = 1;
  CgNest N;
  cg_nest_init_ew(cx, &N, p, &ep, tags);
  CgFn F;
  cg_kernel_begin_block(cx, p, k, kf, &N, &F, "epilogue");
  LLVMBuilderRef b = cx->b;
  LLVMValueRef r0 = cg_fn_param(&F, kf->nbufs + 1), r1 = cg_fn_param(&F, kf->nbufs + 2);
  LLVMValueRef c0 = cg_fn_param(&F, kf->nbufs + 3), c1 = cg_fn_param(&F, kf->nbufs + 4);
  /* A static last dim of 1 has no loop: the block's columns are [0, 1). */
  int ncol = N.nloops && N.loops[N.nloops - 1].tag == 1, nrow = N.nloops - ncol;
  cg_nest_level(&N, 0);
  CgFor rows, cols;
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
  if (ncol) cg_for_end(&F, &cols);
  cg_for_end(&F, &rows);
  cg_kernel_end(kf, &N, &F);
}
