/* k_scan.c — a scan as a loop that calls its body's step function.
 *
 * The body is an IR function like any other, compiled to its own
 *   void nnc_<body>(void **args, const int64_t *syms, void *workspace)
 * (step.c; target.c emits bodies first), so its kernels are planned, fused
 * and parallelised as usual. The scan is then, inline in the caller's step
 * function:
 *
 *   copy each initial carry into A
 *   for t in 0..T-1 (sequence index tt = t, or T-1-t when reversed):
 *     body(carries A, sequences at tt, constants -> carries B, outputs at tt)
 *     swap A and B
 *   copy the final carries out
 *
 * Carries ping-pong between two scratch copies so that a body never writes
 * a buffer it reads (its kernels assume noalias). Per-step outputs go
 * straight into their stacked result at row tt, or into scratch when no
 * scan_out reads them. Sequences are read in place: views.c makes every
 * operand a contiguous buffer, so step tt of a sequence is one pointer.
 *
 * The scratch and the body's workspace live in a region after the
 * caller's slots (scans run one at a time, or a pair at once with the
 * second's region after the first's, so one region serves all);
 * cg_scan_region_bytes says how big it must be. */
#include <string.h>

#include "cg.h"

#define ALIGN 64

static LLVMValueRef align_up(CgCtx *cx, LLVMBuilderRef b, LLVMValueRef x) {
  return LLVMBuildAnd(b, LLVMBuildAdd(b, x, cg_i64(cx, ALIGN - 1), ""), cg_i64(cx, -(int64_t)ALIGN), "");
}

static const IrFunc *body_of(const CgPlan *p, const CgKernel *k) {
  return ir_scan_body(p->f->mod, &p->f->nodes[k->root].at);
}

static LLVMValueRef body_fn(CgCtx *cx, const IrFunc *body, const char *suffix) {
  char name[256];
  snprintf(name, sizeof name, "nnc_%s%s", body->name, suffix);
  LLVMValueRef fn = LLVMGetNamedFunction(cx->mod, name);
  if (!fn) unreachable("a scan body was not compiled before its scan");
  return fn;
}

/* Bytes of one step of body result r (or of the carry r). */
static CgMono result_bytes(const IrFunc *body, int r) {
  return cg_mono_bytes(&body->nodes[body->rets[r]].ty, 0);
}

/* The export writing result r, or -1 when nothing reads it. */
static int export_of(const CgPlan *p, const CgKernel *k, int r) {
  for (int e = 0; e < k->nexp; e++)
    if (p->f->nodes[k->exp[e].node].at.index == r) return e;
  return -1;
}

/* Scratch offsets inside the region, in the order cg_emit_scan uses them:
 * A and B per carry, then one step per unread output; returns the end. */
static LLVMValueRef scratch_layout(CgFn *F, const CgKernel *k, LLVMValueRef *off) {
  CgCtx *cx = F->cx;
  const IrFunc *body = body_of(F->p, k);
  int nc = F->p->f->nodes[k->root].at.ncarry, n = 0;
  LLVMValueRef at = cg_i64(cx, 0);
  for (int r = 0; r < body->nrets; r++) {
    if (r >= nc && export_of(F->p, k, r) >= 0) continue;
    LLVMValueRef sz = align_up(cx, F->pre, cg_mono_val(F, result_bytes(body, r)));
    for (int copy = 0; copy < (r < nc ? 2 : 1); copy++) {
      if (off) off[n++] = at;
      at = LLVMBuildAdd(F->pre, at, sz, "");
    }
  }
  return at;
}

/* memcpy, or on a device target nnrt_cu_memcpy (device memory). */
static void copy(CgFn *F, LLVMValueRef dst, unsigned dalign, LLVMValueRef src, unsigned salign, LLVMValueRef bytes) {
  CgCtx *cx = F->cx;
  if (!cx->dev) {
    LLVMBuildMemCpy(cx->b, dst, dalign, src, salign, bytes);
    return;
  }
  LLVMValueRef a[3] = {dst, src, bytes};
  LLVMBuildCall2(cx->b, cx->ft_memcpy, cx->f_memcpy, a, 3, "");
}

static LLVMValueRef byte_ptr(CgCtx *cx, LLVMBuilderRef b, LLVMValueRef base, LLVMValueRef off) {
  return LLVMBuildInBoundsGEP2(b, LLVMInt8TypeInContext(cx->llc), base, &off, 1, "");
}

static LLVMValueRef operand_ptr(CgFn *F, int node) {
  const CgVal *v = &F->p->val[node];
  if (v->kind != CV_BUF || !cg_view_rowmajor(&v->v, &F->p->f->nodes[node].ty.sh))
    unreachable("scan operand not contiguous (views.c)");
  return cg_buf_ptr(F, v->v.buf);
}

/* A block of batch rows (ir_scan_rows): rows [r0, r0 + B') of every
 * operand with the batch axis, F's syms holding B' as the batch dim, and
 * Bfull the whole batch (the stride of a sequence's or a stacked output's
 * time steps). NULL: the whole batch. */
typedef struct RowBlock {
  const IrScanRows *rows;
  LLVMValueRef r0, Bfull;
} RowBlock;

/* Bytes of one batch row of a value whose batch axis is axis `at`. */
static LLVMValueRef row_bytes(CgFn *F, const Type *t, int at) { return cg_mono_val(F, cg_mono_bytes(t, at + 1)); }

/* base, moved to row r0 of a value with the batch axis at `at`. */
static LLVMValueRef at_row(CgFn *F, const RowBlock *R, LLVMValueRef base, const Type *t, int at) {
  if (!R) return base;
  return byte_ptr(F->cx, F->cx->b, base, LLVMBuildNSWMul(F->cx->b, R->r0, row_bytes(F, t, at), ""));
}

/* The scan's time loop (the whole batch, or one block of rows). */
static void emit_loop(CgFn *F, const CgKernel *k, LLVMValueRef region, const RowBlock *R) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = cx->b;
  const CgPlan *p = F->p;
  const IrNode *S = &p->f->nodes[k->root];
  const IrFunc *body = body_of(p, k);
  int nc = S->at.ncarry, ns = S->at.nseq, nin = S->nargs, nres = body->nrets;
  int ng = p->nglobals, nargs = ng + nin + nres;
  LLVMValueRef fn = body_fn(cx, body, "");

  LLVMValueRef *off = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(2 * nres + 1));
  LLVMValueRef end = scratch_layout(F, k, off);
  LLVMValueRef body_ws = byte_ptr(cx, F->pre, region, end);
  LLVMValueRef args = LLVMBuildArrayAlloca(F->pre, cx->t_ptr, cg_i64(cx, nargs), "scan_args");
  for (int i = 0; i < ng; i++) /* a body reads no globals */
    LLVMBuildStore(F->pre, LLVMConstNull(cx->t_ptr), LLVMBuildInBoundsGEP2(F->pre, cx->t_ptr, args, (LLVMValueRef[]){cg_i64(cx, i)}, 1, ""));

  LLVMValueRef A[IR_MAX_ARGS], B[IR_MAX_ARGS];
  LLVMValueRef *scratch = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(nres + 1));
  LLVMValueRef *bytes = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(nres + 1));
  LLVMValueRef *stride = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(nres + 1));
  int o = 0;
  for (int r = 0; r < nres; r++) {
    const Type *rt = &body->nodes[body->rets[r]].ty;
    bytes[r] = cg_mono_val(F, result_bytes(body, r));
    /* a stacked output's step: the whole batch's rows, not the block's */
    stride[r] = R ? LLVMBuildNSWMul(F->pre, R->Bfull, row_bytes(F, rt, 0), "") : bytes[r];
    scratch[r] = NULL;
    if (r < nc) {
      A[r] = byte_ptr(cx, F->pre, region, off[o++]);
      B[r] = byte_ptr(cx, F->pre, region, off[o++]);
    } else if (export_of(p, k, r) < 0) {
      scratch[r] = byte_ptr(cx, F->pre, region, off[o++]);
    }
  }
  for (int r = 0; r < nc; r++) {
    const IrNode *init = &p->f->nodes[S->args[r]];
    copy(F, A[r], ALIGN, at_row(F, R, operand_ptr(F, S->args[r]), &init->ty, 0), cg_align(init->ty.dt), bytes[r]);
  }

  const Shape *s0 = &p->f->nodes[S->args[nc]].ty.sh;
  LLVMValueRef T = cg_mono_val(F, cg_mono_dim(s0->d[0]));
  CgFor l;
  cg_for_begin(F, &l, cg_i64(cx, 0), T, "scan");
  LLVMValueRef tt = S->at.reverse ? LLVMBuildSub(b, LLVMBuildSub(b, T, cg_i64(cx, 1), ""), l.iv, "tt") : l.iv;
  LLVMValueRef odd = LLVMBuildTrunc(b, LLVMBuildAnd(b, l.iv, cg_i64(cx, 1), ""), LLVMInt1TypeInContext(cx->llc), "odd");
  LLVMValueRef *slot = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(nargs + 1));
  for (int a = 0; a < nin; a++) {
    const Type *at = &p->f->nodes[S->args[a]].ty;
    bool row = R && R->rows->row[a];
    LLVMValueRef ptr;
    if (a < nc) {
      ptr = LLVMBuildSelect(b, odd, B[a], A[a], "");
    } else if (a < nc + ns) {
      LLVMValueRef step = row ? LLVMBuildNSWMul(F->pre, R->Bfull, row_bytes(F, at, 1), "")
                              : cg_mono_val(F, cg_mono_bytes(at, 1));
      ptr = byte_ptr(cx, b, operand_ptr(F, S->args[a]), LLVMBuildNSWMul(b, tt, step, ""));
      if (row) ptr = at_row(F, R, ptr, at, 1);
    } else {
      ptr = row ? at_row(F, R, operand_ptr(F, S->args[a]), at, 0) : operand_ptr(F, S->args[a]);
    }
    slot[ng + a] = ptr;
  }
  for (int r = 0; r < nres; r++) {
    LLVMValueRef ptr;
    if (r < nc) ptr = LLVMBuildSelect(b, odd, A[r], B[r], "");
    else if (scratch[r]) ptr = scratch[r];
    else {
      ptr = byte_ptr(cx, b, cg_buf_ptr(F, k->exp[export_of(p, k, r)].buf), LLVMBuildNSWMul(b, tt, stride[r], ""));
      ptr = at_row(F, R, ptr, &body->nodes[body->rets[r]].ty, 0);
    }
    slot[ng + nin + r] = ptr;
  }
  for (int i = ng; i < nargs; i++)
    LLVMBuildStore(b, slot[i], LLVMBuildInBoundsGEP2(b, cx->t_ptr, args, (LLVMValueRef[]){cg_i64(cx, i)}, 1, ""));
  LLVMValueRef cargs[3] = {args, F->syms, body_ws};
  LLVMBuildCall2(b, LLVMGlobalGetValueType(fn), fn, cargs, 3, "");
  cg_for_end(F, &l);

  /* After T steps the carries are in B when T is odd, in A when even. */
  LLVMValueRef todd = LLVMBuildTrunc(b, LLVMBuildAnd(b, T, cg_i64(cx, 1), ""), LLVMInt1TypeInContext(cx->llc), "");
  for (int e = 0; e < k->nexp; e++) {
    int r = p->f->nodes[k->exp[e].node].at.index;
    unsigned al = cg_align(p->f->nodes[k->exp[e].node].ty.dt);
    LLVMValueRef dst = cg_buf_ptr(F, k->exp[e].buf);
    if (r < nc) {
      dst = at_row(F, R, dst, &body->nodes[body->rets[r]].ty, 0);
      copy(F, dst, al, LLVMBuildSelect(b, todd, B[r], A[r], ""), ALIGN, bytes[r]);
    } else if (export_of(p, k, r) != e) { /* a second scan_out of one output (never split: split_rows) */
      LLVMValueRef all = LLVMBuildNSWMul(b, bytes[r], T, "");
      copy(F, dst, al, cg_buf_ptr(F, k->exp[export_of(p, k, r)].buf), al, all);
    }
  }
}

/* ---- blocks of rows on the pool ----
 *
 * A scan whose body keeps batch rows apart (ir_scan_rows) runs as
 * nnrt_parallel_for over blocks of rows (block_rows): each block runs the
 * whole time loop on its rows, with its own scratch region and the body's
 * kernels inline on its thread (nested dispatches run inline, rt_pool.c),
 * so a time step costs no barrier. The blocks depend only on B, never on
 * the thread count, and every row is computed by the same kernels
 * whatever the block: the result does not depend on --threads. At most 2
 * blocks, of at least 16 rows (a multiple of 8): the cores of the machines
 * nnc is measured on, and each block's GEMMs are as thick as that allows.
 * Every block repacks the step's weight and runs thinner products, so on
 * one thread blocks cost time (the row LSTM with OpenBLAS's SSE3 kernels:
 * 4 blocks of 16 rows ran its step 35% slower than the whole batch; 2 of
 * 32 less so), while on two they save the per-step barriers. */
#define ROWS_MIN 16
#define ROWS_BLOCKS 2

/* Whether k runs in blocks of rows: CPU only (a device runs each kernel
 * over the whole batch), and not when one output has two scan_outs. */
static bool split_rows(CgFn *F, const CgKernel *k, IrScanRows *rows) {
  if (F->cx->dev || F->cx->no_scan_blocks) return false;
  const CgPlan *p = F->p;
  const IrNode *S = &p->f->nodes[k->root];
  for (int e = 0; e < k->nexp; e++)
    if (S->at.ncarry <= p->f->nodes[k->exp[e].node].at.index && export_of(p, k, p->f->nodes[k->exp[e].node].at.index) != e)
      return false;
  return ir_scan_rows(p->f->mod, S, rows);
}

/* rows per block: B itself up to ROWS_MIN, else max(ROWS_MIN, ceil(B /
 * ROWS_BLOCKS) rounded up to 8); and how many blocks. */
static LLVMValueRef block_rows(CgFn *F, LLVMValueRef Bv, LLVMValueRef *nblocks) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = F->pre;
  LLVMValueRef q = LLVMBuildSDiv(b, LLVMBuildAdd(b, Bv, cg_i64(cx, ROWS_BLOCKS - 1), ""), cg_i64(cx, ROWS_BLOCKS), "");
  q = LLVMBuildAnd(b, LLVMBuildAdd(b, q, cg_i64(cx, 7), ""), cg_i64(cx, -8), "");
  LLVMValueRef rb = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, q, cg_i64(cx, ROWS_MIN), ""), cg_i64(cx, ROWS_MIN), q, "");
  rb = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, Bv, rb, ""), Bv, rb, "rows_block");
  LLVMValueRef safe = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, rb, cg_i64(cx, 1), ""), cg_i64(cx, 1), rb, "");
  *nblocks = LLVMBuildSDiv(b, LLVMBuildAdd(b, Bv, LLVMBuildSub(b, safe, cg_i64(cx, 1), ""), ""), safe, "nblocks");
  return safe;
}

/* A copy of F's syms in F's entry block with the batch dim set to rows. */
static LLVMValueRef syms_with(CgFn *F, int sym, LLVMValueRef src, LLVMValueRef rows, LLVMBuilderRef at) {
  CgCtx *cx = F->cx;
  int n = cx->m->nsyms > 0 ? cx->m->nsyms : 1;
  LLVMValueRef loc = LLVMBuildArrayAlloca(F->pre, cx->t_i64, cg_i64(cx, n), "block_syms");
  LLVMBuildMemCpy(at, loc, 8, src, 8, cg_i64(cx, 8 * (int64_t)n));
  LLVMBuildStore(at, rows, LLVMBuildInBoundsGEP2(at, cx->t_i64, loc, (LLVMValueRef[]){cg_i64(cx, sym)}, 1, ""));
  return loc;
}

/* The region one block of rb rows needs, rounded up to ALIGN. */
static LLVMValueRef block_region_bytes(CgFn *F, const CgKernel *k, int sym, LLVMValueRef rb) {
  CgFn T = *F; /* F with the block's syms: sizes in terms of rb rows */
  T.syms = syms_with(F, sym, F->syms, rb, F->pre);
  memset(T.symv, 0, sizeof T.symv);
  LLVMValueRef wsfn = body_fn(F->cx, body_of(F->p, k), "_workspace");
  LLVMValueRef ws = LLVMBuildCall2(F->pre, LLVMGlobalGetValueType(wsfn), wsfn, &T.syms, 1, "block_ws");
  return align_up(F->cx, F->pre, LLVMBuildAdd(F->pre, scratch_layout(&T, k, NULL), align_up(F->cx, F->pre, ws), ""));
}

static LLVMValueRef pair_region_bytes(CgFn *F, const CgKernel *k);

LLVMValueRef cg_scan_region_bytes(CgFn *F, const CgKernel *k) {
  IrScanRows rows;
  if (cg_scan_pair(F, k)) return pair_region_bytes(F, k);
  if (split_rows(F, k, &rows)) {
    LLVMValueRef nblocks, rb = block_rows(F, cg_sym(F, rows.sym), &nblocks);
    return LLVMBuildMul(F->pre, nblocks, block_region_bytes(F, k, rows.sym, rb), "scan_region");
  }
  CgCtx *cx = F->cx;
  LLVMValueRef wsfn = body_fn(cx, body_of(F->p, k), "_workspace");
  LLVMValueRef syms = F->syms;
  LLVMValueRef ws = LLVMBuildCall2(F->pre, LLVMGlobalGetValueType(wsfn), wsfn, &syms, 1, "body_ws");
  return LLVMBuildAdd(F->pre, scratch_layout(F, k, NULL), align_up(cx, F->pre, ws), "scan_region");
}

/* The plan buffers the scan reads and writes, each once. */
static int scan_bufs(const CgPlan *p, const CgKernel *k, int *bufs) {
  const IrNode *S = &p->f->nodes[k->root];
  int n = 0;
  for (int i = 0; i < S->nargs + k->nexp; i++) {
    int buf = i < S->nargs ? p->val[S->args[i]].v.buf : k->exp[i - S->nargs].buf;
    bool seen = false;
    for (int j = 0; j < n; j++)
      seen |= bufs[j] == buf;
    if (!seen) bufs[n++] = buf;
  }
  return n;
}

/* void <name>_block(bufs..., region, syms, r0, Bfull): one block's loop. */
static LLVMValueRef block_fn(CgCtx *cx, const CgPlan *p, const CgKernel *k, const IrScanRows *rows, const int *bufs,
                             int nb, const char *name) {
  CgFn G;
  cg_fn_begin(cx, &G, p, name, nb + 1, false, 2);
  for (int i = 0; i < nb; i++)
    G.bufp[bufs[i]] = cg_fn_param(&G, i);
  RowBlock R = {rows, cg_fn_param(&G, nb + 2), cg_fn_param(&G, nb + 3)};
  emit_loop(&G, k, cg_fn_param(&G, nb), &R);
  cg_fn_end(&G);
  return G.fn;
}

/* The NnrtBody void(ctx, lo, hi) running blocks [lo, hi). ctx: bufs...,
 * region, syms, then (as i64) rows per block, block region bytes, B. */
static LLVMValueRef blocks_body(CgCtx *cx, LLVMValueRef block, int nb, int sym, const char *name) {
  LLVMTypeRef pt[3] = {cx->t_ptr, cx->t_i64, cx->t_i64};
  LLVMValueRef fn = LLVMAddFunction(cx->mod, name, LLVMFunctionType(cx->t_void, pt, 3, 0));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cx->llc, cx->attr_nounwind, 0));
  CgFn F;
  memset(&F, 0, sizeof F);
  F.cx = cx;
  F.fn = fn;
  F.entry = LLVMAppendBasicBlockInContext(cx->llc, fn, "entry");
  F.start = LLVMAppendBasicBlockInContext(cx->llc, fn, "start");
  F.pre = LLVMCreateBuilderInContext(cx->llc);
  LLVMPositionBuilderAtEnd(F.pre, F.entry);
  LLVMPositionBuilderAtEnd(cx->b, F.start);
  LLVMBuilderRef b = cx->b;
  LLVMValueRef ctx = LLVMGetParam(fn, 0);
  LLVMValueRef *a = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(nb + 6));
  for (int i = 0; i < nb + 5; i++) /* bufs, region, syms: pointers; then three i64 */
    a[i] = LLVMBuildLoad2(F.pre, i < nb + 2 ? cx->t_ptr : cx->t_i64,
                          LLVMBuildInBoundsGEP2(F.pre, cx->t_ptr, ctx, (LLVMValueRef[]){cg_i64(cx, i)}, 1, ""), "");
  LLVMValueRef rb = a[nb + 2], bytes = a[nb + 3], Bv = a[nb + 4];
  F.syms = a[nb + 1];
  CgFor l;
  cg_for_begin(&F, &l, LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), "block");
  LLVMValueRef r0 = LLVMBuildNSWMul(b, l.iv, rb, "r0");
  LLVMValueRef left = LLVMBuildSub(b, Bv, r0, "");
  LLVMValueRef n = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, left, rb, ""), left, rb, "rows");
  LLVMValueRef *args = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(nb + 5));
  for (int i = 0; i < nb; i++)
    args[i] = a[i];
  args[nb] = byte_ptr(cx, b, a[nb], LLVMBuildNSWMul(b, l.iv, bytes, ""));
  args[nb + 1] = syms_with(&F, sym, F.syms, n, b);
  args[nb + 2] = r0;
  args[nb + 3] = Bv;
  LLVMBuildCall2(b, LLVMGlobalGetValueType(block), block, args, (unsigned)(nb + 4), "");
  cg_for_end(&F, &l);
  cg_fn_end(&F);
  return fn;
}

/* The task of a scan in blocks of rows: its blocks' NnrtBody and the ctx
 * it takes (in F's entry block), and how many blocks; whole: one block of
 * the whole batch (a scan of a pair, cg_emit_scan_pair), else blocks of
 * block_rows. */
typedef struct ScanTask {
  LLVMValueRef body, ctx, nblocks, bytes; /* bytes: the region it needs */
} ScanTask;

static ScanTask scan_task(CgFn *F, const CgKernel *k, LLVMValueRef region, const IrScanRows *rows, bool whole) {
  CgCtx *cx = F->cx;
  const CgPlan *p = F->p;
  int *bufs = arena_alloc(cx->arena, sizeof(int) * (size_t)(IR_MAX_ARGS + k->nexp + 1));
  int nb = scan_bufs(p, k, bufs);
  char name[256];
  LLVMBasicBlockRef caller = LLVMGetInsertBlock(cx->b);
  snprintf(name, sizeof name, "%s_k%d_scan_block", LLVMGetValueName(F->fn), (int)(k - p->ks));
  LLVMValueRef block = block_fn(cx, p, k, rows, bufs, nb, name);
  snprintf(name, sizeof name, "%s_k%d_scan_rows", LLVMGetValueName(F->fn), (int)(k - p->ks));
  ScanTask t = {.body = blocks_body(cx, block, nb, rows->sym, name)};
  LLVMPositionBuilderAtEnd(cx->b, caller);

  LLVMBuilderRef b = cx->b;
  LLVMValueRef Bv = cg_sym(F, rows->sym), rb = Bv;
  if (whole) t.nblocks = cg_i64(cx, 1);
  else rb = block_rows(F, Bv, &t.nblocks);
  LLVMValueRef bytes = block_region_bytes(F, k, rows->sym, rb);
  t.bytes = LLVMBuildMul(F->pre, t.nblocks, bytes, "");
  t.ctx = LLVMBuildArrayAlloca(F->pre, cx->t_ptr, cg_i64(cx, nb + 5), "scan_ctx");
  LLVMValueRef *v = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(nb + 5));
  for (int i = 0; i < nb; i++)
    v[i] = cg_buf_ptr(F, bufs[i]);
  v[nb] = region, v[nb + 1] = F->syms, v[nb + 2] = rb, v[nb + 3] = bytes, v[nb + 4] = Bv;
  for (int i = 0; i < nb + 5; i++)
    LLVMBuildStore(b, v[i], LLVMBuildInBoundsGEP2(b, cx->t_ptr, t.ctx, (LLVMValueRef[]){cg_i64(cx, i)}, 1, ""));
  return t;
}

static void emit_blocks(CgFn *F, const CgKernel *k, LLVMValueRef region, const IrScanRows *rows) {
  ScanTask t = scan_task(F, k, region, rows, false);
  LLVMValueRef pargs[4] = {t.body, t.ctx, t.nblocks, cg_i64(F->cx, 1)};
  LLVMBuildCall2(F->cx->b, F->cx->ft_pfor, F->cx->f_pfor, pargs, 4, "");
}

/* ---- two scans at once ----
 *
 * A pair (plan.c, pair_scans: k and the scan after it, independent) runs
 * as one nnrt_parallel_multi job of two tasks, each scan's whole batch as
 * one block: on two threads each scan runs on a core of its own, with the
 * whole batch in its products (thicker than a block's half) and no barrier
 * between the two; on one, one after the other. Each scan's rows are
 * computed by the same kernels as in blocks, so the result does not depend
 * on the thread count. The second scan's region follows the first's. */
bool cg_scan_pair(CgFn *F, const CgKernel *k) {
  IrScanRows rows;
  const CgPlan *p = F->p;
  int i = (int)(k - p->ks);
  return k->kind == CK_SCAN && i + 1 < p->nks && p->ks[i + 1].with_prev && split_rows(F, k, &rows) &&
         split_rows(F, &p->ks[i + 1], &rows);
}

/* The region a pair needs, in F's entry block. */
static LLVMValueRef pair_region_bytes(CgFn *F, const CgKernel *k) {
  LLVMValueRef total = cg_i64(F->cx, 0);
  for (int s = 0; s < 2; s++) {
    IrScanRows rows;
    split_rows(F, &k[s], &rows);
    LLVMValueRef bytes = block_region_bytes(F, &k[s], rows.sym, cg_sym(F, rows.sym));
    total = LLVMBuildAdd(F->pre, total, bytes, "pair_region");
  }
  return total;
}

void cg_emit_scan_pair(CgFn *F, const CgKernel *k, LLVMValueRef region) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = cx->b;
  LLVMTypeRef i8 = LLVMInt8TypeInContext(cx->llc);
  /* NnrtTask {body, ctx, n, grain}: four 8-byte fields. */
  LLVMValueRef tasks = LLVMBuildArrayAlloca(F->pre, cx->t_ptr, cg_i64(cx, 8), "pair_tasks");
  LLVMValueRef at = region;
  for (int s = 0; s < 2; s++) {
    IrScanRows rows;
    split_rows(F, &k[s], &rows);
    ScanTask t = scan_task(F, &k[s], at, &rows, true);
    at = byte_ptr(cx, b, at, t.bytes);
    LLVMValueRef f[4] = {t.body, t.ctx, t.nblocks, cg_i64(cx, 1)};
    for (int q = 0; q < 4; q++)
      LLVMBuildStore(b, f[q], LLVMBuildInBoundsGEP2(b, i8, tasks, (LLVMValueRef[]){cg_i64(cx, 32 * s + 8 * q)}, 1, ""));
  }
  LLVMValueRef args[2] = {tasks, cg_i64(cx, 2)};
  LLVMBuildCall2(b, cx->ft_pmulti, cx->f_pmulti, args, 2, "");
}

void cg_emit_scan(CgFn *F, const CgKernel *k, LLVMValueRef region) {
  IrScanRows rows;
  if (split_rows(F, k, &rows)) emit_blocks(F, k, region, &rows);
  else emit_loop(F, k, region, NULL);
}
