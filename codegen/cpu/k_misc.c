/* k_misc.c — matmul (a call to the runtime's nnrt_sgemm), onehot, and the
 * copies that look at indices (concat, causal_mask; a slice is a view, read
 * in place through its offset).
 *
 * matmul never copies an operand: a row-major view is passed as is, a
 * transposed one (a transpose of a contiguous matrix, or the IR's ta/tb
 * flags) flips the trans flag, with the leading dimension read off the
 * view's strides. views.c materialises anything else (a broadcast) first.
 * The product goes straight into its destination (an output buffer, a
 * workspace slot) with beta = 0. A 3-d by 2-d product is one sgemm of G*M
 * rows (its 3-d operand is contiguous). A batched (3-d or more) matmul takes contiguous
 * operands (views.c copies others: the flags still transpose for free) and
 * is one nnrt_sgemm_batch call over the matrices of the leading axes (B*H
 * of them for attention's [B,H,T,dh] products), which the runtime runs side
 * by side on its pool; summed over its batch, it is one GEMM (below).
 * nnrt_sgemm, not cblas_sgemm: the runtime splits
 * the product over its thread pool in a way that does not change the
 * result with the thread count (runtime/rt_blas.c). A matmul kernel with an
 * epilogue (a GEMM group, k_epilogue.c) calls nnrt_sgemm_ep, which runs the
 * epilogue on each block of C as soon as the block is computed.
 *
 * onehot writes each row branch-free as (label == c), so an out-of-range
 * label can never write out of bounds; such a label also calls the
 * runtime's nnrt_fail_label(row, label, classes) so the run stops with a
 * message naming the offending sample. */
#include "cg.h"

/* Where a view's element 0 is (a slice starts past its buffer's). */
static LLVMValueRef view_ptr(CgFn *F, const CgView *v) {
  LLVMValueRef base = cg_buf_ptr(F, v->buf);
  return cg_mono_is(v->off, 0) ? base : cg_gep(F, F->cx->t_f32, base, cg_mono_val(F, v->off));
}

/* Pointer, trans flag (0/1) and leading dimension of matmul operand i. */
static void operand(CgFn *F, const IrNode *mm, int i, LLVMValueRef *ptr, int *trans, LLVMValueRef *ld) {
  const CgPlan *p = F->p;
  int a = mm->args[i];
  const CgVal *v = &p->val[a];
  const Shape *s = &p->f->nodes[a].ty.sh;
  int flag = i == 0 ? mm->at.ta : mm->at.tb;
  if (s->rank >= 3) { /* contiguous [G.., rows, cols] (views.c) */
    if (v->kind != CV_BUF || !cg_view_rowmajor(&v->v, s)) unreachable("batched matmul operand not contiguous");
    *trans = flag;
    *ld = cg_mono_val(F, cg_mono_dim(s->d[s->rank - 1]));
    *ptr = view_ptr(F, &v->v);
    return;
  }
  int layout = cg_view_blas(&v->v, s);
  if (v->kind != CV_BUF || layout < 0) unreachable("matmul operand not in a BLAS layout");
  *trans = flag ^ layout;
  /* The stored matrix is s (layout 0) or its transpose (layout 1); its rows
   * are st[0] (resp. st[1]) apart, which is arbitrary when there is one row. */
  CgMono rows_apart = layout ? v->v.st[1] : v->v.st[0];
  CgMono row_len = cg_mono_dim(layout ? s->d[0] : s->d[1]);
  int64_t nrows = layout ? s->d[1] : s->d[0];
  *ld = cg_mono_val(F, nrows == 1 ? row_len : rows_apart);
  *ptr = view_ptr(F, &v->v);
}

/* Where node x of kernel k is in memory: its export's buffer, or its view. */
static LLVMValueRef node_ptr(CgFn *F, const CgKernel *k, int x) {
  for (int e = 0; e < k->nexp; e++)
    if (k->exp[e].node == x) return cg_buf_ptr(F, k->exp[e].buf);
  if (F->p->val[x].kind != CV_BUF) unreachable("a GEMM epilogue's operand is not in memory (codegen/cuda/lt.c)");
  return view_ptr(F, &F->p->val[x].v);
}

void cg_emit_matmul(CgFn *F, const CgKernel *k, LLVMValueRef ep, LLVMValueRef ctx, const CgDevGemm *lt) {
  CgCtx *cx = F->cx;
  const IrNode *mm = &F->p->f->nodes[k->root];
  const Shape *as = &F->p->f->nodes[mm->args[0]].ty.sh;
  const Shape *bs = &F->p->f->nodes[mm->args[1]].ty.sh;
  int r = as->rank - 2, rb = bs->rank - 2; /* the batch axes, 0 for one product */
  CgMono M = cg_mono_dim(as->d[r + (mm->at.ta ? 1 : 0)]), K = cg_mono_dim(as->d[r + (mm->at.ta ? 0 : 1)]);
  CgMono N = cg_mono_dim(bs->d[rb + (mm->at.tb ? 0 : 1)]);
  CgMono G = cg_mono(1); /* the batch: the product of the leading axes */
  for (int i = 0; i < r; i++) G = cg_mono_mul(G, cg_mono_dim(as->d[i]));
  /* [G..,M,K] x [K,N]: a contiguous A is one [G*M, K] matrix, one sgemm. */
  if (r && !rb) M = cg_mono_mul(G, M), r = 0;
  LLVMValueRef pa, pb, lda, ldb, pc = cg_buf_ptr(F, F->p->own[k->root]);
  int ta, tb;
  operand(F, mm, 0, &pa, &ta, &lda);
  operand(F, mm, 1, &pb, &tb, &ldb);
  LLVMValueRef n = cg_mono_val(F, N), m = cg_mono_val(F, M), kk = cg_mono_val(F, K);
  LLVMValueRef one = cg_f32(cx, 1), zero = cg_f32(cx, 0), fta = cg_i32(cx, ta), ftb = cg_i32(cx, tb);
  if (r && (ep || (lt && lt->ep))) unreachable("a batch of products has no epilogue (ir/groups.c)");
  if (r) { /* a batch: one call, the runtime runs the products side by side */
    LLVMValueRef sa = cg_mono_val(F, cg_mono_mul(M, K)), sb = cg_mono_val(F, cg_mono_mul(K, N));
    LLVMValueRef sc = cg_mono_val(F, cg_mono_mul(M, N)), count = cg_mono_val(F, G);
    LLVMValueRef args[17] = {fta, ftb, m, n, kk, one, pa, lda, sa, pb, ldb, sb, zero, pc, n, sc, count};
    LLVMBuildCall2(cx->b, cx->ft_sgemm_batch, cx->f_sgemm_batch, args, 17, "");
    return;
  }
  /* An epilogue with a bias gradient (a sum over the product's rows) needs
   * blocks of whole columns. */
  bool sums_rows = false;
  for (int i = 0; i < k->nmem; i++)
    sums_rows |= op_is(F->p->f->nodes[k->mem[i]].op, OPF_REDUCE);
  if (lt && lt->ep) { /* the library's epilogue writes D into node d's memory */
    LLVMValueRef null = LLVMConstNull(cx->t_ptr);
    LLVMValueRef pd = node_ptr(F, k, lt->d), pbias = lt->bias >= 0 ? node_ptr(F, k, lt->bias) : null;
    LLVMValueRef paux = lt->aux >= 0 ? node_ptr(F, k, lt->aux) : null, ep_id = cg_i32(cx, lt->ep);
    LLVMValueRef la[17] = {
        fta, ftb, m, n, kk, one, pa, lda, pb, ldb, zero, pd, n, ep_id, pbias, paux, cg_i64(cx, lt->ldaux)};
    LLVMBuildCall2(cx->b, cx->ft_sgemm_lt, cx->f_sgemm_lt, la, 17, "");
    return;
  }
  LLVMValueRef args[16] = {fta, ftb, m, n, kk, one, pa, lda, pb, ldb, zero, pc, n, ep, ctx, cg_i32(cx, sums_rows)};
  if (ep) LLVMBuildCall2(cx->b, cx->ft_sgemm_ep, cx->f_sgemm_ep, args, 16, "");
  else LLVMBuildCall2(cx->b, cx->ft_sgemm, cx->f_sgemm, args, 13, "");
}

/* ---- a batch of products summed over the batch ---- */

/* The plan's summed GEMM (plan.c, summed_gemms): sum_t A_t^T B_t as one
 * product of the [T*K, M] and [T*K, N] matrices the contiguous batches
 * are, written to the sum's buffer. nnrt_cu_sgemm takes the same
 * arguments on a device. */
void cg_emit_summed_matmul(CgFn *F, const CgKernel *k) {
  CgCtx *cx = F->cx;
  const IrNode *mm = &F->p->f->nodes[k->root];
  const Shape *as = &F->p->f->nodes[mm->args[0]].ty.sh, *bs = &F->p->f->nodes[mm->args[1]].ty.sh;
  CgMono T = cg_mono_dim(as->d[0]), K = cg_mono_dim(as->d[1]), M = cg_mono_dim(as->d[2]), N = cg_mono_dim(bs->d[2]);
  LLVMValueRef pa, pb, lda, ldb, pc = cg_buf_ptr(F, k->exp[0].buf);
  int ta, tb;
  operand(F, mm, 0, &pa, &ta, &lda); /* contiguous (batched operands are): ld = M, N */
  operand(F, mm, 1, &pb, &tb, &ldb);
  LLVMValueRef n = cg_mono_val(F, N);
  LLVMValueRef args[13] = {cg_i32(cx, ta), cg_i32(cx, tb), cg_mono_val(F, M), n, cg_mono_val(F, cg_mono_mul(T, K)),
                           cg_f32(cx, 1), pa, lda, pb, ldb, cg_f32(cx, 0), pc, n};
  LLVMBuildCall2(cx->b, cx->ft_sgemm, cx->f_sgemm, args, 13, "");
}

/* ---- onehot ---- */

typedef struct Hot {
  CgNest *N;
  int cl; /* the class loop, or -1 when there is one class */
  int64_t classes;
  LLVMValueRef out, lab;
} Hot;

static void hot_row(Hot *H) {
  CgNest *N = H->N;
  CgFn *F = N->F;
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = cx->b;
  int nrow = H->cl >= 0 ? H->cl : N->nloops;
  LLVMValueRef loff = cg_nest_offset(N, cg_nest_extra(N, 1), nrow);
  LLVMValueRef lab = LLVMBuildLoad2(b, cx->t_i32, cg_gep(F, cx->t_i32, H->lab, loff), "label");
  LLVMSetAlignment(lab, 4);
  LLVMValueRef lab64 = LLVMBuildSExt(b, lab, cx->t_i64, "");
  LLVMValueRef C = cg_i64(cx, H->classes);
  /* One unsigned compare catches negative labels too. */
  LLVMValueRef bad = LLVMBuildICmp(b, LLVMIntUGE, lab64, C, "");
  LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cx->llc, F->fn, "bad_label");
  LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(cx->llc, F->fn, "label_ok");
  LLVMBuildCondBr(b, bad, fail, ok);
  LLVMPositionBuilderAtEnd(b, fail);
  LLVMBasicBlockRef call = LLVMAppendBasicBlockInContext(cx->llc, F->fn, "report");
  LLVMBuildCondBr(b, LLVMBuildIsNotNull(b, cx->f_fail_label, ""), call, ok);
  LLVMPositionBuilderAtEnd(b, call);
  LLVMValueRef row = LLVMBuildSDiv(b, cg_nest_offset(N, cg_nest_extra(N, 0), nrow), C, "");
  LLVMValueRef fargs[3] = {row, lab64, C};
  LLVMBuildCall2(b, cx->ft_fail_label, cx->f_fail_label, fargs, 3, "");
  LLVMBuildBr(b, ok);
  LLVMPositionBuilderAtEnd(b, ok);
  CgFor f;
  LLVMValueRef c = cg_i64(cx, 0);
  if (H->cl >= 0) cg_nest_open(N, &f, H->cl), c = f.iv;
  LLVMValueRef v = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, lab64, c, ""), cg_f32(cx, 1), cg_f32(cx, 0), "");
  LLVMValueRef off = cg_nest_offset(N, cg_nest_extra(N, 0), N->nloops);
  LLVMSetAlignment(LLVMBuildStore(b, v, cg_gep(F, cx->t_f32, H->out, off)), 4);
  if (H->cl >= 0) cg_nest_close(N, &f);
}

static void hot_loops(Hot *H, int l, CgFor *fors) {
  int nrow = H->cl >= 0 ? H->cl : H->N->nloops;
  if (l == nrow) {
    hot_row(H);
    return;
  }
  cg_nest_open(H->N, &fors[l], l);
  hot_loops(H, l + 1, fors);
  cg_nest_close(H->N, &fors[l]);
}

void cg_kernel_onehot(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf) {
  const IrNode *root = &p->f->nodes[k->root];
  const Shape *dom = &k->domain;
  const CgVal *lv = &p->val[root->args[0]];
  int r = dom->rank, tags[IR_MAX_RANK] = {0};
  tags[r - 1] = 1;
  CgMono extra[2][IR_MAX_RANK];
  for (int d = 0; d < r; d++) {
    extra[0][d] = cg_mono_numel(dom, d + 1);
    extra[1][d] = d < r - 1 ? lv->v.st[d] : cg_mono(0);
  }
  CgNest N;
  cg_nest_init(&N, p, k, NULL, tags, NULL, 0, extra, 2);
  Hot H = {.N = &N, .cl = -1, .classes = dom->d[r - 1]};
  if (N.nloops && N.loops[N.nloops - 1].last == r - 1) H.cl = N.nloops - 1;
  int nrow = H.cl >= 0 ? H.cl : N.nloops;
  CgFn F;
  cg_kernel_begin(cx, p, k, kf, &N, &F, "onehot", nrow > 0);
  H.out = cg_buf_ptr(&F, k->exp[0].buf);
  H.lab = cg_buf_ptr(&F, lv->v.buf);
  cg_nest_level(&N, 0);
  CgFor fors[CG_MAX_LOOPS];
  hot_loops(&H, 0, fors);
  cg_kernel_end(kf, &N, &F);
}

/* ---- concat, causal_mask ---- */

/* A nest over the result; the concat axis (the mask's last two axes) is a
 * loop of its own (its tag), so its counter picks the operand (the fill).
 * Accesses: 0 the result, 1 and 2 the operands in the result's coordinates
 * (b's shifted back by a's size). */
typedef struct Range {
  CgNest *N;
  const IrNode *root;
  int al;       /* the concat axis's loop; the mask's row loop (-1: row 0) */
  int cl;       /* the mask's column loop (-1: column 0) */
  CgMono shift; /* concat: da * b's axis stride */
  int64_t da;
  LLVMValueRef out, src[2];
} Range;

static void range_body(Range *R) {
  CgNest *N = R->N;
  CgFn *F = N->F;
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = cx->b;
  LLVMTypeRef t = cg_dtype(cx, R->root->ty.dt);
  unsigned align = cg_align(R->root->ty.dt);
  int nl = N->nloops;
  LLVMValueRef off = cg_nest_offset(N, cg_nest_extra(N, 1), nl), src;
  if (R->root->op == OP_CAUSAL_MASK) {
    LLVMValueRef x = LLVMBuildLoad2(b, t, cg_gep(F, t, R->src[0], off), "");
    LLVMSetAlignment(x, align);
    LLVMValueRef i = R->al >= 0 ? N->iv[R->al] : cg_i64(cx, 0), j = R->cl >= 0 ? N->iv[R->cl] : cg_i64(cx, 0);
    LLVMValueRef v = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, j, i, ""), cg_f32(cx, R->root->at.value), x, "");
    LLVMValueRef dst = cg_gep(F, t, R->out, cg_nest_offset(N, cg_nest_extra(N, 0), nl));
    LLVMSetAlignment(LLVMBuildStore(b, v, dst), align);
    return;
  }
  LLVMValueRef offb = cg_nest_offset(N, cg_nest_extra(N, 2), nl);
  offb = LLVMBuildSub(b, offb, cg_mono_val(F, R->shift), "");
  LLVMValueRef in_a = LLVMBuildICmp(b, LLVMIntSLT, N->iv[R->al], cg_i64(cx, R->da), "");
  src = LLVMBuildSelect(b, in_a, cg_gep(F, t, R->src[0], off), cg_gep(F, t, R->src[1], offb), "");
  LLVMValueRef v = LLVMBuildLoad2(b, t, src, "");
  LLVMSetAlignment(v, align);
  LLVMValueRef dst = cg_gep(F, t, R->out, cg_nest_offset(N, cg_nest_extra(N, 0), nl));
  LLVMSetAlignment(LLVMBuildStore(b, v, dst), align);
}

static void range_loops(Range *R, int l, CgFor *fors) {
  if (l == R->N->nloops) {
    range_body(R);
    return;
  }
  cg_nest_open(R->N, &fors[l], l);
  range_loops(R, l + 1, fors);
  cg_nest_close(R->N, &fors[l]);
}

void cg_kernel_range(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf) {
  const IrNode *root = &p->f->nodes[k->root];
  const Shape *dom = &k->domain;
  int r = dom->rank, ax = root->at.axis, nsrc = root->nargs, tags[IR_MAX_RANK] = {0};
  const CgVal *sv[2];
  CgMono extra[3][IR_MAX_RANK];
  for (int i = 0; i < nsrc; i++)
    sv[i] = &p->val[root->args[i]];
  for (int d = 0; d < r; d++) {
    extra[0][d] = cg_mono_numel(dom, d + 1);
    for (int i = 0; i < nsrc; i++)
      extra[1 + i][d] = sv[i]->v.st[d];
  }
  Range R = {.root = root, .al = -1, .cl = -1};
  if (root->op == OP_CAUSAL_MASK) {
    tags[r - 2] = 1, tags[r - 1] = 2;
    ax = r - 2;
  } else {
    tags[ax] = 1;
    R.da = p->f->nodes[root->args[0]].ty.sh.d[ax];
    R.shift = cg_mono_mul(sv[1]->v.st[ax], cg_mono(R.da));
  }
  CgNest N;
  cg_nest_init(&N, p, k, NULL, tags, NULL, 0, extra, 1 + nsrc);
  R.N = &N;
  for (int l = 0; l < N.nloops; l++) {
    if (N.loops[l].last == ax) R.al = l;
    if (root->op == OP_CAUSAL_MASK && N.loops[l].last == r - 1) R.cl = l;
  }
  if (root->op == OP_CONCAT && R.al < 0) unreachable("concat: the axis has no loop of its own");
  CgFn F;
  cg_kernel_begin(cx, p, k, kf, &N, &F, ir_ops[root->op].mnemonic, N.nloops > 0);
  R.out = cg_buf_ptr(&F, k->exp[0].buf);
  for (int i = 0; i < nsrc; i++)
    R.src[i] = cg_buf_ptr(&F, sv[i]->v.buf);
  cg_nest_level(&N, 0);
  CgFor fors[CG_MAX_LOOPS];
  range_loops(&R, 0, fors);
  cg_kernel_end(kf, &N, &F);
}
