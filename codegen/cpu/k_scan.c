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
 * caller's slots (scans run one at a time, so one region serves all);
 * cg_scan_region_bytes says how big it must be. */
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

LLVMValueRef cg_scan_region_bytes(CgFn *F, const CgKernel *k) {
  CgCtx *cx = F->cx;
  LLVMValueRef wsfn = body_fn(cx, body_of(F->p, k), "_workspace");
  LLVMValueRef syms = F->syms;
  LLVMValueRef ws = LLVMBuildCall2(F->pre, LLVMGlobalGetValueType(wsfn), wsfn, &syms, 1, "body_ws");
  return LLVMBuildAdd(F->pre, scratch_layout(F, k, NULL), align_up(cx, F->pre, ws), "scan_region");
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

void cg_emit_scan(CgFn *F, const CgKernel *k, LLVMValueRef region) {
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
  int o = 0;
  for (int r = 0; r < nres; r++) {
    bytes[r] = cg_mono_val(F, result_bytes(body, r));
    scratch[r] = NULL;
    if (r < nc) {
      A[r] = byte_ptr(cx, F->pre, region, off[o++]);
      B[r] = byte_ptr(cx, F->pre, region, off[o++]);
    } else if (export_of(p, k, r) < 0) {
      scratch[r] = byte_ptr(cx, F->pre, region, off[o++]);
    }
  }
  for (int r = 0; r < nc; r++)
    copy(F, A[r], ALIGN, operand_ptr(F, S->args[r]), cg_align(p->f->nodes[S->args[r]].ty.dt), bytes[r]);

  const Shape *s0 = &p->f->nodes[S->args[nc]].ty.sh;
  LLVMValueRef T = cg_mono_val(F, cg_mono_dim(s0->d[0]));
  CgFor l;
  cg_for_begin(F, &l, cg_i64(cx, 0), T, "scan");
  LLVMValueRef tt = S->at.reverse ? LLVMBuildSub(b, LLVMBuildSub(b, T, cg_i64(cx, 1), ""), l.iv, "tt") : l.iv;
  LLVMValueRef odd = LLVMBuildTrunc(b, LLVMBuildAnd(b, l.iv, cg_i64(cx, 1), ""), LLVMInt1TypeInContext(cx->llc), "odd");
  LLVMValueRef *slot = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(nargs + 1));
  for (int a = 0; a < nin; a++) {
    LLVMValueRef ptr;
    if (a < nc) {
      ptr = LLVMBuildSelect(b, odd, B[a], A[a], "");
    } else if (a < nc + ns) {
      LLVMValueRef step = cg_mono_val(F, cg_mono_bytes(&p->f->nodes[S->args[a]].ty, 1));
      ptr = byte_ptr(cx, b, operand_ptr(F, S->args[a]), LLVMBuildNSWMul(b, tt, step, ""));
    } else {
      ptr = operand_ptr(F, S->args[a]);
    }
    slot[ng + a] = ptr;
  }
  for (int r = 0; r < nres; r++) {
    LLVMValueRef ptr;
    if (r < nc) ptr = LLVMBuildSelect(b, odd, A[r], B[r], "");
    else if (scratch[r]) ptr = scratch[r];
    else ptr = byte_ptr(cx, b, cg_buf_ptr(F, k->exp[export_of(p, k, r)].buf), LLVMBuildNSWMul(b, tt, bytes[r], ""));
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
      copy(F, dst, al, LLVMBuildSelect(b, todd, B[r], A[r], ""), ALIGN, bytes[r]);
    } else if (export_of(p, k, r) != e) { /* a second scan_out of one output */
      LLVMValueRef all = LLVMBuildNSWMul(b, bytes[r], T, "");
      copy(F, dst, al, cg_buf_ptr(F, k->exp[export_of(p, k, r)].buf), al, all);
    }
  }
}
