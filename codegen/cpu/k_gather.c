/* k_gather.c — embedding (rows gathered by id), its gradient (a
 * scatter-add), and dropout (a keep mask drawn inline from Philox).
 *
 * Each builds its own loops over contiguous operands (views.c materialises
 * any other view first), like k_window.c, and is ranged so the step
 * function may split it over the thread pool. Every chunk writes memory no
 * other chunk writes and computes each element the same way whatever the
 * chunking, so results do not depend on the thread count:
 *   embedding       chunks of ids; row k of the result is table row ids[k];
 *   embedding_grad  chunks of table rows: a chunk zeroes its rows, then
 *                   walks all the ids in order and adds dy's row k to the
 *                   rows it owns. Each element's sum is taken in the order
 *                   of k, as the interpreter does, with no atomics; the
 *                   price is that every chunk reads every id;
 *   dropout         chunks of elements; the mask is nnrt_philox.h's
 *                   function of (seed, step, salt, index), one Philox block
 *                   per four elements, and a block belongs to the chunk
 *                   holding its first element.
 * An id outside [0, rows) calls the runtime's nnrt_fail_id (the run stops
 * with a message naming the id); the kernel reads row 0 instead and writes
 * zeros, so nothing is read out of bounds when the hook is absent (JIT
 * tests) or returns. The gradient skips such ids. */
#include "../../runtime/nnrt_philox.h"
#include "cg.h"


typedef struct Gk {
  CgFn *F;
  CgCtx *cx;
  LLVMBuilderRef b;
} Gk;

static LLVMValueRef K64(Gk *g, int64_t v) { return cg_i64(g->cx, v); }

static LLVMValueRef load(Gk *g, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef i) {
  LLVMValueRef v = LLVMBuildLoad2(g->b, t, cg_gep(g->F, t, base, i), "");
  LLVMSetAlignment(v, 4);
  return v;
}

static void store(Gk *g, LLVMValueRef base, LLVMValueRef i, LLVMValueRef v) {
  LLVMSetAlignment(LLVMBuildStore(g->b, v, cg_gep(g->F, LLVMTypeOf(v), base, i)), 4);
}

static LLVMValueRef buf_of(Gk *g, const CgPlan *p, int node) {
  const CgVal *v = &p->val[node];
  if (v->kind != CV_BUF) unreachable("k_gather: an operand is not in memory");
  return cg_buf_ptr(g->F, v->v.buf);
}

/* ---- embedding ---- */

static void embedding(Gk *g, const CgPlan *p, const IrNode *nd, const CgKernel *k, CgKFn *kf) {
  CgCtx *cx = g->cx;
  LLVMBuilderRef b = g->b;
  const Shape *ids_s = &p->f->nodes[nd->args[0]].ty.sh, *tab_s = &p->f->nodes[nd->args[1]].ty.sh;
  int64_t V = tab_s->d[0], D = tab_s->d[1];
  LLVMValueRef ids = buf_of(g, p, nd->args[0]), tab = buf_of(g, p, nd->args[1]);
  LLVMValueRef out = cg_buf_ptr(g->F, k->exp[0].buf);
  LLVMValueRef lo = cg_fn_param(g->F, kf->nbufs + 1), hi = cg_fn_param(g->F, kf->nbufs + 2);
  CgFor r, c;
  cg_for_begin(g->F, &r, lo, hi, "id");
  LLVMValueRef id = LLVMBuildSExt(b, load(g, cx->t_i32, ids, r.iv), cx->t_i64, "id");
  /* One unsigned compare catches negative ids too. */
  LLVMValueRef bad = LLVMBuildICmp(b, LLVMIntUGE, id, K64(g, V), "bad");
  LLVMBasicBlockRef report = LLVMAppendBasicBlockInContext(cx->llc, g->F->fn, "bad_id");
  LLVMBasicBlockRef call = LLVMAppendBasicBlockInContext(cx->llc, g->F->fn, "report");
  LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(cx->llc, g->F->fn, "id_ok");
  LLVMBuildCondBr(b, bad, report, ok);
  LLVMPositionBuilderAtEnd(b, report);
  LLVMBuildCondBr(b, LLVMBuildIsNotNull(b, cx->f_fail_id, ""), call, ok);
  LLVMPositionBuilderAtEnd(b, call);
  LLVMValueRef per_row = cg_mono_val(g->F, cg_mono_numel(ids_s, ids_s->rank ? 1 : 0));
  LLVMValueRef fargs[4] = {r.iv, per_row, id, K64(g, V)};
  LLVMBuildCall2(b, cx->ft_fail_id, cx->f_fail_id, fargs, 4, "");
  LLVMBuildBr(b, ok);
  LLVMPositionBuilderAtEnd(b, ok);
  LLVMValueRef row = LLVMBuildMul(b, LLVMBuildSelect(b, bad, K64(g, 0), id, ""), K64(g, D), "row");
  LLVMValueRef orow = LLVMBuildMul(b, r.iv, K64(g, D), "");
  cg_for_begin(g->F, &c, K64(g, 0), K64(g, D), "d");
  LLVMValueRef v = load(g, cx->t_f32, tab, LLVMBuildAdd(b, row, c.iv, ""));
  store(g, out, LLVMBuildAdd(b, orow, c.iv, ""), LLVMBuildSelect(b, bad, cg_f32(cx, 0), v, ""));
  cg_for_end(g->F, &c);
  cg_for_end(g->F, &r);
  kf->outer = cg_mono_numel(ids_s, 0);
  kf->inner = cg_mono(D);
}

/* Chunks own table rows [lo, hi): zero them, then add every dy row whose id
 * falls among them, in order. */
static void embedding_grad(Gk *g, const CgPlan *p, const IrNode *nd, const CgKernel *k, CgKFn *kf) {
  CgCtx *cx = g->cx;
  LLVMBuilderRef b = g->b;
  const Shape *ids_s = &p->f->nodes[nd->args[0]].ty.sh, *tab_s = &p->f->nodes[nd->args[1]].ty.sh;
  int64_t V = tab_s->d[0], D = tab_s->d[1];
  LLVMValueRef ids = buf_of(g, p, nd->args[0]), dy = buf_of(g, p, nd->args[2]);
  LLVMValueRef out = cg_buf_ptr(g->F, k->exp[0].buf);
  LLVMValueRef lo = cg_fn_param(g->F, kf->nbufs + 1), hi = cg_fn_param(g->F, kf->nbufs + 2);
  CgFor z, r, c;
  cg_for_begin(g->F, &z, LLVMBuildMul(b, lo, K64(g, D), ""), LLVMBuildMul(b, hi, K64(g, D), ""), "zero");
  store(g, out, z.iv, cg_f32(cx, 0));
  cg_for_end(g->F, &z);
  LLVMValueRef nrows = LLVMBuildSub(b, hi, lo, "");
  cg_for_begin(g->F, &r, K64(g, 0), cg_mono_val(g->F, cg_mono_numel(ids_s, 0)), "id");
  LLVMValueRef id = LLVMBuildSExt(b, load(g, cx->t_i32, ids, r.iv), cx->t_i64, "id");
  /* id - lo < hi - lo, unsigned: the id is one of this chunk's rows (an
   * out-of-range id is no chunk's). */
  LLVMValueRef mine = LLVMBuildICmp(b, LLVMIntULT, LLVMBuildSub(b, id, lo, ""), nrows, "mine");
  LLVMBasicBlockRef add = LLVMAppendBasicBlockInContext(cx->llc, g->F->fn, "add_row");
  LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cx->llc, g->F->fn, "next_id");
  LLVMBuildCondBr(b, mine, add, next);
  LLVMPositionBuilderAtEnd(b, add);
  LLVMValueRef orow = LLVMBuildMul(b, id, K64(g, D), ""), drow = LLVMBuildMul(b, r.iv, K64(g, D), "");
  cg_for_begin(g->F, &c, K64(g, 0), K64(g, D), "d");
  LLVMValueRef oi = LLVMBuildAdd(b, orow, c.iv, "");
  LLVMValueRef sum =
      LLVMBuildFAdd(b, load(g, cx->t_f32, out, oi), load(g, cx->t_f32, dy, LLVMBuildAdd(b, drow, c.iv, "")), "");
  store(g, out, oi, sum);
  cg_for_end(g->F, &c);
  LLVMBuildBr(b, next);
  LLVMPositionBuilderAtEnd(b, next);
  cg_for_end(g->F, &r);
  kf->outer = cg_mono(V);
  kf->inner = cg_mono(D);
}

/* ---- dropout ---- */

typedef struct Drop {
  LLVMValueRef x, out, key[2], step, n;
  uint32_t thr, word3;
  float scale;
} Drop;

/* hi and lo words of a * m (32 x 32 -> 64 bits). */
static void mulhilo(Gk *g, LLVMValueRef a, uint32_t m, LLVMValueRef *hi, LLVMValueRef *lo) {
  LLVMValueRef p = LLVMBuildMul(g->b, LLVMBuildZExt(g->b, a, g->cx->t_i64, ""), K64(g, m), "");
  *hi = LLVMBuildTrunc(g->b, LLVMBuildLShr(g->b, p, K64(g, 32), ""), g->cx->t_i32, "");
  *lo = LLVMBuildTrunc(g->b, p, g->cx->t_i32, "");
}

/* nnrt_philox4x32 on counter c (four i32 values), in place. */
static void philox(Gk *g, const Drop *d, LLVMValueRef c[4]) {
  CgCtx *cx = g->cx;
  LLVMValueRef k0 = d->key[0], k1 = d->key[1];
  for (int r = 0; r < NNRT_PHILOX_ROUNDS; r++) {
    if (r > 0) {
      k0 = LLVMBuildAdd(g->b, k0, cg_i32(cx, (int32_t)NNRT_PHILOX_W0), "");
      k1 = LLVMBuildAdd(g->b, k1, cg_i32(cx, (int32_t)NNRT_PHILOX_W1), "");
    }
    LLVMValueRef hi0, lo0, hi1, lo1;
    mulhilo(g, c[0], NNRT_PHILOX_M0, &hi0, &lo0);
    mulhilo(g, c[2], NNRT_PHILOX_M1, &hi1, &lo1);
    c[0] = LLVMBuildXor(g->b, LLVMBuildXor(g->b, hi1, c[1], ""), k0, "");
    c[1] = lo1;
    c[2] = LLVMBuildXor(g->b, LLVMBuildXor(g->b, hi0, c[3], ""), k1, "");
    c[3] = lo0;
  }
}

/* The four elements of block blk; with `guard`, only those below n (the
 * last, partial block). */
static void drop_block(Gk *g, const Drop *d, LLVMValueRef blk, bool guard) {
  CgCtx *cx = g->cx;
  LLVMBuilderRef b = g->b;
  LLVMValueRef c[4] = {LLVMBuildTrunc(b, blk, cx->t_i32, ""),
                       LLVMBuildTrunc(b, LLVMBuildLShr(b, blk, K64(g, 32), ""), cx->t_i32, ""), d->step,
                       cg_i32(cx, (int32_t)d->word3)};
  philox(g, d, c);
  for (int l = 0; l < 4; l++) {
    LLVMValueRef i = LLVMBuildAdd(b, LLVMBuildMul(b, blk, K64(g, 4), ""), K64(g, l), "");
    LLVMBasicBlockRef next = NULL;
    if (guard) {
      LLVMBasicBlockRef lane = LLVMAppendBasicBlockInContext(cx->llc, g->F->fn, "lane");
      next = LLVMAppendBasicBlockInContext(cx->llc, g->F->fn, "lane_done");
      LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, i, d->n, ""), lane, next);
      LLVMPositionBuilderAtEnd(b, lane);
    }
    LLVMValueRef keep = LLVMBuildICmp(b, LLVMIntUGE, c[l], cg_i32(cx, (int32_t)d->thr), "keep");
    LLVMValueRef v = LLVMBuildFMul(b, load(g, cx->t_f32, d->x, i), cg_f32(cx, d->scale), "");
    store(g, d->out, i, LLVMBuildSelect(b, keep, v, cg_f32(cx, 0), ""));
    if (guard) {
      LLVMBuildBr(b, next);
      LLVMPositionBuilderAtEnd(b, next);
    }
  }
}

/* Chunks are element ranges [lo, hi); the chunk owns the blocks whose first
 * element it holds, [ceil(lo/4), ceil(hi/4)). */
static void dropout(Gk *g, const CgPlan *p, const IrNode *nd, const CgKernel *k, CgKFn *kf) {
  CgCtx *cx = g->cx;
  LLVMBuilderRef b = g->b;
  const Shape *xs = &nd->ty.sh;
  LLVMValueRef seed = buf_of(g, p, nd->args[1]);
  Drop d = {.x = buf_of(g, p, nd->args[0]),
            .out = cg_buf_ptr(g->F, k->exp[0].buf),
            .n = cg_mono_val(g->F, cg_mono_numel(xs, 0)),
            .thr = nnrt_dropout_threshold(nd->at.value),
            .word3 = nnrt_dropout_word3((uint32_t)nd->at.salt),
            .scale = (float)(1 / (1 - nd->at.value))};
  d.key[0] = load(g, cx->t_i32, seed, K64(g, 0));
  d.key[1] = load(g, cx->t_i32, seed, K64(g, 1));
  /* The step is an integer-valued f32 (opt.step), as the interpreter reads it. */
  LLVMValueRef st = load(g, cx->t_f32, buf_of(g, p, nd->args[2]), K64(g, 0));
  d.step = LLVMBuildTrunc(b, LLVMBuildFPToSI(b, st, cx->t_i64, ""), cx->t_i32, "step");
  LLVMValueRef lo = cg_fn_param(g->F, kf->nbufs + 1), hi = cg_fn_param(g->F, kf->nbufs + 2);
  LLVMValueRef bs = LLVMBuildUDiv(b, LLVMBuildAdd(b, lo, K64(g, 3), ""), K64(g, 4), "");
  LLVMValueRef be = LLVMBuildUDiv(b, LLVMBuildAdd(b, hi, K64(g, 3), ""), K64(g, 4), "");
  LLVMValueRef nfull = LLVMBuildUDiv(b, d.n, K64(g, 4), "nfull");
  LLVMValueRef end = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntULT, be, nfull, ""), be, nfull, "");
  CgFor f;
  cg_for_begin(g->F, &f, bs, end, "block");
  drop_block(g, &d, f.iv, false);
  cg_for_end(g->F, &f);
  /* The partial block (n % 4 != 0) is block nfull, if this chunk owns it. */
  LLVMValueRef owns =
      LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntULE, bs, nfull, ""), LLVMBuildICmp(b, LLVMIntULT, nfull, be, ""), "");
  LLVMBasicBlockRef tail = LLVMAppendBasicBlockInContext(cx->llc, g->F->fn, "tail");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cx->llc, g->F->fn, "done");
  LLVMBuildCondBr(b, owns, tail, done);
  LLVMPositionBuilderAtEnd(b, tail);
  drop_block(g, &d, nfull, true);
  LLVMBuildBr(b, done);
  LLVMPositionBuilderAtEnd(b, done);
  kf->outer = cg_mono_numel(xs, 0);
  kf->inner = cg_mono(1);
}

void cg_kernel_gather(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf) {
  const IrNode *nd = &p->f->nodes[k->root];
  CgFn F;
  cg_kernel_begin(cx, p, k, kf, NULL, &F, ir_ops[nd->op].mnemonic, true);
  Gk g = {.F = &F, .cx = cx, .b = cx->b};
  if (nd->op == OP_EMBEDDING)
    embedding(&g, p, nd, k, kf);
  else if (nd->op == OP_EMBEDDING_GRAD)
    embedding_grad(&g, p, nd, k, kf);
  else
    dropout(&g, p, nd, k, kf);
  cg_kernel_end(kf, NULL, &F);
}
