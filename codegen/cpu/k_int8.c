/* k_int8.c — qmatmul and qconv2d (CK_QGEMM): u8 x i8 products summed
 * exactly in i32, as vpdpbusd computes them.
 *
 * Both are GEMMs whose inner step is a 4-byte dot product per i32 lane:
 * lane j of an accumulator gains u[4j..4j+3] . s[4j..4j+3] (u8 times s8,
 * without saturation). One operand is broadcast (4 bytes of one row, the
 * same in every lane); the other is packed: for a panel of NR columns and a
 * group g of 4 along K, the 4 bytes of each column side by side (NR * 4
 * bytes), the groups one after another, zeros past K and past the last
 * column.
 *   qmatmul  C[M,N] = A[M,K] W[K,N]: A's rows are broadcast (a leading
 *            batch is more rows); the weights are packed into the scratch
 *            region at each call (panels in parallel), then blocks of MR
 *            rows run in parallel, each against every panel.
 *   qconv2d  out[b] = W[F,K] X_b[K,P] (P = OH * OW, K = C * kh * kw): the
 *            filter rows, [F,K] as stored, are broadcast; the im2col of one
 *            panel of NR output positions is packed on the stack (padding
 *            taps read the zero point), so each tile stores whole vectors
 *            along the positions of the NCHW result; (image, panel) pairs
 *            run in parallel.
 * A tile is MR broadcast rows by NV vectors of VL lanes: MR * NV
 * accumulators live in registers over the whole of K (allocas, which SROA
 * promotes).
 *
 * The dot step is vpdpbusd (llvm.x86.avx512.vpdpbusd.512, or .256) when the
 * target machine has AVX-512 VNNI (AVX-VNNI, or AVX-512 VNNI with VL, for
 * 256 bits) and the backend was not given --no-vnni; otherwise plain vector
 * IR (widen to i16, multiply, add pairs in i32, then pairs of pairs) that
 * LLVM lowers for any CPU. All of it is integer arithmetic wrapping in i32,
 * so both paths give the interpreter's bits for any thread count.
 *
 * The weights are packed at every call (K * N bytes): packing them once at
 * build time needs their values, which the IR does not carry yet. */
#include <string.h>

#include "cg.h"

#define MAX_MR 12
#define MAX_NV 4

typedef struct Q {
  CgCtx *cx;
  CgFn *F; /* the function being built */
  LLVMBuilderRef b;
  const IrNode *nd;
  int vl, nv, nr, mr; /* lanes per vector, vectors per panel, panel width, rows per tile */
  LLVMTypeRef vt;     /* <vl x i32>: 4 vl bytes of an operand */
  LLVMTypeRef at;     /* an accumulator: vt, or <2 vl x i32> for the portable
                       * dot, which keeps two partial sums per lane */
  bool bcast_u8;      /* the broadcast rows are the u8 operand (qmatmul) */
  int64_t K, G;       /* the reduction's length and its groups of 4 (rounded up) */
  int64_t ncols;      /* static columns (qmatmul's N, qconv2d's P) */
  int kindex;         /* the kernel's index in the plan, for names */
} Q;

static LLVMValueRef K64(const Q *q, int64_t v) { return cg_i64(q->cx, v); }
static bool portable(const Q *q) { return q->cx->qdot == CG_QDOT_PORTABLE || q->cx->qdot == CG_QDOT_PORTABLE_512; }
static LLVMTypeRef t_i8(const Q *q) { return LLVMInt8TypeInContext(q->cx->llc); }

/* The tile shape for the dot instruction: 32 zmm registers hold 24
 * accumulators, the panel's vectors and a broadcast; 16 ymm hold 12; the
 * portable step works on 8 lanes with 16-lane accumulators and widened
 * operands: 12 accumulators in zmm registers where the CPU has them, 4 in
 * pairs of ymm or xmm registers otherwise. With a static row count
 * (qconv2d's F), the MR that wastes the fewest rows, the largest on a tie. */
static Q plan_q(CgCtx *cx, const CgPlan *p, const CgKernel *k) {
  const IrNode *nd = &p->f->nodes[k->root];
  const Shape *ws = &p->f->nodes[nd->args[1]].ty.sh, *ys = &nd->ty.sh;
  Q q = {.cx = cx, .b = cx->b, .nd = nd, .bcast_u8 = nd->op == OP_QMATMUL, .kindex = (int)(k - p->ks)};
  int64_t rows = -1;
  if (nd->op == OP_QMATMUL) {
    q.K = ws->d[nd->at.tb ? 1 : 0], q.ncols = ws->d[nd->at.tb ? 0 : 1];
  } else {
    q.K = ws->d[1] * ws->d[2] * ws->d[3], q.ncols = ys->d[2] * ys->d[3], rows = ws->d[0];
  }
  q.G = (q.K + 3) / 4;
  q.vl = cx->qdot == CG_QDOT_VNNI512 ? 16 : 8;
  int budget = cx->qdot == CG_QDOT_VNNI512   ? 24
               : cx->qdot == CG_QDOT_VNNI256 ? 12
               : cx->qdot == CG_QDOT_PORTABLE_512 ? 12
                                                  : 4;
  int64_t need = (q.ncols + q.vl - 1) / q.vl, most = budget >= 12 ? MAX_NV : 2;
  q.nv = need > most ? (int)most : (int)need;
  q.nr = q.nv * q.vl;
  q.mr = budget / q.nv > MAX_MR ? MAX_MR : budget / q.nv;
  for (int mr = q.mr - 1; rows > 0 && mr >= (q.mr + 1) / 2; mr--)
    if ((rows + mr - 1) / mr * mr < (rows + q.mr - 1) / q.mr * q.mr) q.mr = mr;
  q.vt = LLVMVectorType(cx->t_i32, (unsigned)q.vl);
  q.at = portable(&q) ? LLVMVectorType(cx->t_i32, 2 * (unsigned)q.vl) : q.vt;
  return q;
}

CgQdot cg_qdot_of(LLVMTargetMachineRef tm) {
  char *f = LLVMGetTargetMachineFeatureString(tm);
  CgQdot d = strstr(f, "+avx512vnni") && strstr(f, "+avx512bw") ? CG_QDOT_VNNI512
             : strstr(f, "+avxvnni") || (strstr(f, "+avx512vnni") && strstr(f, "+avx512vl")) ? CG_QDOT_VNNI256
                                                                                           : cg_qdot_portable(tm);
  LLVMDisposeMessage(f);
  return d;
}

CgQdot cg_qdot_portable(LLVMTargetMachineRef tm) {
  char *f = LLVMGetTargetMachineFeatureString(tm);
  CgQdot d = strstr(f, "+avx512bw") ? CG_QDOT_PORTABLE_512 : CG_QDOT_PORTABLE;
  LLVMDisposeMessage(f);
  return d;
}

/* ---- building blocks ---- */

static LLVMValueRef load_at(Q *q, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef byte_off, unsigned align) {
  LLVMValueRef v = LLVMBuildLoad2(q->b, t, LLVMBuildInBoundsGEP2(q->b, t_i8(q), base, &byte_off, 1, ""), "");
  LLVMSetAlignment(v, align);
  return v;
}

static void store_at(Q *q, LLVMValueRef v, LLVMValueRef base, LLVMValueRef byte_off, unsigned align) {
  LLVMSetAlignment(LLVMBuildStore(q->b, v, LLVMBuildInBoundsGEP2(q->b, t_i8(q), base, &byte_off, 1, "")), align);
}

static LLVMValueRef add(Q *q, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(q->b, a, b, ""); }
static LLVMValueRef mul(Q *q, LLVMValueRef a, int64_t c) { return LLVMBuildMul(q->b, a, K64(q, c), ""); }
static LLVMValueRef min64(Q *q, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(q->b, LLVMBuildICmp(q->b, LLVMIntSLT, a, b, ""), a, b, "");
}

/* if (cond) { ... } : returns the join block; the builder is in the then block. */
static LLVMBasicBlockRef if_begin(Q *q, LLVMValueRef cond, const char *name) {
  LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(q->cx->llc, q->F->fn, name);
  LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(q->cx->llc, q->F->fn, "join");
  LLVMBuildCondBr(q->b, cond, then, join);
  LLVMPositionBuilderAtEnd(q->b, then);
  return join;
}

static void if_end(Q *q, LLVMBasicBlockRef join) {
  LLVMBuildBr(q->b, join);
  LLVMPositionBuilderAtEnd(q->b, join);
}

/* Elements parity, parity + 2, ... of an n-element vector. */
static LLVMValueRef half(Q *q, LLVMValueRef v, int n, int parity) {
  LLVMValueRef idx[64];
  for (int i = 0; i < n / 2; i++)
    idx[i] = cg_i32(q->cx, 2 * i + parity);
  return LLVMBuildShuffleVector(q->b, v, LLVMGetPoison(LLVMTypeOf(v)), LLVMConstVector(idx, (unsigned)n / 2), "");
}

/* acc + (per lane) the dot product of the 4 u8 bytes of u with the 4 s8
 * bytes of s. The portable form widens both to i16 and adds the products
 * of neighbours in i32 (LLVM's pmaddwd pattern; exact: a u8 times an s8
 * fits an i16), which leaves two partial sums per lane in a 2 vl
 * accumulator; the tile adds them when it stores (lane_sums). */
static LLVMValueRef dot(Q *q, LLVMValueRef acc, LLVMValueRef u, LLVMValueRef s) {
  CgCtx *cx = q->cx;
  LLVMBuilderRef b = q->b;
  if (!portable(q)) {
    const char *name = q->vl == 16 ? "llvm.x86.avx512.vpdpbusd.512" : "llvm.x86.avx512.vpdpbusd.256";
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cx->mod, id, NULL, 0), args[3] = {acc, u, s};
    return LLVMBuildCall2(b, LLVMIntrinsicGetType(cx->llc, id, NULL, 0), fn, args, 3, "");
  }
  int n = 4 * q->vl;
  LLVMTypeRef bytes = LLVMVectorType(t_i8(q), (unsigned)n);
  LLVMTypeRef h16 = LLVMVectorType(LLVMInt16TypeInContext(cx->llc), (unsigned)n);
  LLVMValueRef uw = LLVMBuildZExt(b, LLVMBuildBitCast(b, u, bytes, ""), h16, "");
  LLVMValueRef sw = LLVMBuildSExt(b, LLVMBuildBitCast(b, s, bytes, ""), h16, "");
  LLVMValueRef pair = NULL;
  for (int par = 0; par < 2; par++) {
    LLVMValueRef pr = LLVMBuildMul(b, LLVMBuildSExt(b, half(q, uw, n, par), q->at, ""),
                                   LLVMBuildSExt(b, half(q, sw, n, par), q->at, ""), "");
    pair = pair ? LLVMBuildAdd(b, pair, pr, "") : pr;
  }
  return LLVMBuildAdd(b, acc, pair, "");
}

/* An accumulator's lanes as <vl x i32>: the portable one's two partial
 * sums per lane added. */
static LLVMValueRef lane_sums(Q *q, LLVMValueRef acc) {
  if (!portable(q)) return acc;
  return LLVMBuildAdd(q->b, half(q, acc, 2 * q->vl, 0), half(q, acc, 2 * q->vl, 1), "");
}

static LLVMValueRef splat(Q *q, LLVMValueRef x) {
  LLVMValueRef v = LLVMBuildInsertElement(q->b, LLVMGetPoison(q->vt), x, cg_i32(q->cx, 0), "");
  LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(q->cx->t_i32, (unsigned)q->vl));
  return LLVMBuildShuffleVector(q->b, v, LLVMGetPoison(q->vt), zeros, "");
}

/* ---- the tile ---- */

/* Bytes [4 full, K) of a row as the low bytes of an i32, zeros above: a
 * row's last partial group, read without touching memory past its end. */
static LLVMValueRef tail_word(Q *q, LLVMValueRef row, int64_t full) {
  LLVMValueRef w = cg_i32(q->cx, 0);
  for (int64_t t = 0; t < q->K - 4 * full; t++) {
    LLVMValueRef byte = LLVMBuildZExt(q->b, load_at(q, t_i8(q), row, K64(q, 4 * full + t), 1), q->cx->t_i32, "");
    w = LLVMBuildOr(q->b, w, LLVMBuildShl(q->b, byte, cg_i32(q->cx, 8 * t), ""), "");
  }
  return w;
}

/* One group g of 4 along K: acc[r][v] += rows[r][4g..4g+3] . panel vector v
 * (tail: the row's last, partial group). */
static void tile_step(Q *q, LLVMValueRef *rows, LLVMValueRef pk, LLVMValueRef g, bool tail, LLVMValueRef *acc) {
  LLVMValueRef pv[MAX_NV];
  LLVMValueRef gb = mul(q, g, (int64_t)q->nr * 4);
  for (int v = 0; v < q->nv; v++)
    pv[v] = load_at(q, q->vt, pk, add(q, gb, K64(q, (int64_t)v * q->vl * 4)), (unsigned)q->vl * 4);
  for (int r = 0; r < q->mr; r++) {
    LLVMValueRef a = tail ? tail_word(q, rows[r], q->K / 4) : load_at(q, q->cx->t_i32, rows[r], mul(q, g, 4), 1);
    LLVMValueRef av = splat(q, a);
    for (int v = 0; v < q->nv; v++) {
      LLVMValueRef *slot = &acc[r * q->nv + v];
      LLVMValueRef cur = LLVMBuildLoad2(q->b, q->at, *slot, "");
      LLVMValueRef nxt = q->bcast_u8 ? dot(q, cur, av, pv[v]) : dot(q, cur, pv[v], av);
      LLVMBuildStore(q->b, nxt, *slot);
    }
  }
}

/* acc (mr x nv allocas) = rows[0..mr) x the packed panel pk, over all of K. */
static void tile(Q *q, LLVMValueRef *rows, LLVMValueRef pk, LLVMValueRef *acc) {
  for (int i = 0; i < q->mr * q->nv; i++)
    LLVMBuildStore(q->b, LLVMConstNull(q->at), acc[i]);
  int64_t full = q->K / 4;
  if (full > 0) {
    CgFor g;
    cg_for_begin(q->F, &g, K64(q, 0), K64(q, full), "kgroup");
    tile_step(q, rows, pk, g.iv, false, acc);
    cg_for_end(q->F, &g);
  }
  if (q->K % 4) tile_step(q, rows, pk, K64(q, full), true, acc);
}

/* Stores the tile at c (rows ldc i32 apart): whole vectors when all of it
 * is inside (rows_left >= mr, cols_left >= nr), else through `tmp` (nr i32
 * on the stack), element by element within rows_left x cols_left. */
static void store_tile(Q *q, LLVMValueRef *acc, LLVMValueRef c, LLVMValueRef ldc, LLVMValueRef rows_left,
                       LLVMValueRef cols_left, LLVMValueRef tmp) {
  LLVMBuilderRef b = q->b;
  LLVMValueRef whole = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGE, rows_left, K64(q, q->mr), ""),
                                    LLVMBuildICmp(b, LLVMIntSGE, cols_left, K64(q, q->nr), ""), "whole");
  LLVMBasicBlockRef fast = LLVMAppendBasicBlockInContext(q->cx->llc, q->F->fn, "whole_tile");
  LLVMBasicBlockRef edge = LLVMAppendBasicBlockInContext(q->cx->llc, q->F->fn, "edge_tile");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(q->cx->llc, q->F->fn, "stored");
  LLVMBuildCondBr(b, whole, fast, edge);
  LLVMPositionBuilderAtEnd(b, fast);
  for (int r = 0; r < q->mr; r++)
    for (int v = 0; v < q->nv; v++) {
      LLVMValueRef off = mul(q, add(q, mul(q, ldc, r), K64(q, (int64_t)v * q->vl)), 4);
      store_at(q, lane_sums(q, LLVMBuildLoad2(b, q->at, acc[r * q->nv + v], "")), c, off, 4);
    }
  LLVMBuildBr(b, done);
  LLVMPositionBuilderAtEnd(b, edge);
  LLVMValueRef ncols = min64(q, cols_left, K64(q, q->nr));
  for (int r = 0; r < q->mr; r++) {
    LLVMBasicBlockRef join = if_begin(q, LLVMBuildICmp(b, LLVMIntSGT, rows_left, K64(q, r), ""), "edge_row");
    for (int v = 0; v < q->nv; v++)
      store_at(q, lane_sums(q, LLVMBuildLoad2(b, q->at, acc[r * q->nv + v], "")), tmp, K64(q, (int64_t)v * q->vl * 4), 4);
    CgFor col;
    cg_for_begin(q->F, &col, K64(q, 0), ncols, "col");
    LLVMValueRef x = load_at(q, q->cx->t_i32, tmp, mul(q, col.iv, 4), 4);
    store_at(q, x, c, mul(q, add(q, mul(q, ldc, r), col.iv), 4), 4);
    cg_for_end(q->F, &col);
    if_end(q, join);
  }
  LLVMBuildBr(b, done);
  LLVMPositionBuilderAtEnd(b, done);
}

/* The allocas a tile needs, in the entry block: accumulators and the edge
 * row. */
static void tile_allocas(Q *q, LLVMValueRef *acc, LLVMValueRef *tmp) {
  for (int i = 0; i < q->mr * q->nv; i++)
    acc[i] = cg_alloca(q->F, q->at, "acc");
  *tmp = LLVMBuildArrayAlloca(q->F->pre, q->cx->t_i32, K64(q, q->nr), "edge");
}

/* ---- functions run by the pool ---- */

/* An internal function (nptr pointers, syms, lo, hi) opened on q->F, and
 * after cg_fn_end its (ctx, lo, hi) body for nnrt_parallel_for. */
static void fn_open(Q *q, CgFn *G, const CgPlan *p, const char *what, int nptr) {
  char name[160];
  snprintf(name, sizeof name, "nnc_%s_k%d_%s", q->cx->fname, q->kindex, what);
  cg_fn_begin(q->cx, G, p, name, nptr, true, 2);
  q->F = G;
}

static LLVMValueRef fn_body(Q *q, CgFn *G, int nptr) {
  cg_fn_end(G);
  CgKFn kf = {.fn = G->fn, .nbufs = nptr};
  char name[200];
  snprintf(name, sizeof name, "%s_par", LLVMGetValueName(G->fn));
  cg_make_body(q->cx, &kf, name);
  return kf.body;
}

/* In the step function F: ctx = {ptrs..., syms}; nnrt_parallel_for(body,
 * ctx, n, 1). */
static void run_on_pool(CgFn *F, LLVMValueRef body, LLVMValueRef *ptrs, int nptr, LLVMValueRef n) {
  CgCtx *cx = F->cx;
  LLVMValueRef ctx = LLVMBuildArrayAlloca(F->pre, cx->t_ptr, cg_i64(cx, nptr + 1), "qctx");
  for (int i = 0; i <= nptr; i++) {
    LLVMValueRef idx = cg_i64(cx, i);
    LLVMBuildStore(cx->b, i < nptr ? ptrs[i] : F->syms, LLVMBuildInBoundsGEP2(cx->b, cx->t_ptr, ctx, &idx, 1, ""));
  }
  LLVMValueRef args[4] = {body, ctx, n, cg_i64(cx, 1)};
  LLVMBuildCall2(cx->b, cx->ft_pfor, cx->f_pfor, args, 4, "");
}

static LLVMValueRef operand_ptr(CgFn *F, const IrNode *nd, int i) {
  const CgVal *v = &F->p->val[nd->args[i]];
  if (v->kind != CV_BUF || !cg_mono_is(v->v.off, 0)) unreachable("k_int8: an operand is not contiguous (views.c)");
  return cg_buf_ptr(F, v->v.buf);
}

/* ---- qmatmul ---- */

/* A group of 4 rows inside the weights, [K,N] as stored: the rows' nr
 * bytes from column n0 interleaved by one shuffle (byte 4c + t is row t's
 * byte c). */
static void pack_rows(Q *q, LLVMValueRef w, LLVMValueRef out, LLVMValueRef gbase, LLVMValueRef g, LLVMValueRef n0) {
  LLVMTypeRef row = LLVMVectorType(t_i8(q), (unsigned)q->nr);
  LLVMValueRef r[4], idx[4 * 64];
  for (int t = 0; t < 4; t++)
    r[t] = load_at(q, row, w, add(q, mul(q, add(q, mul(q, g, 4), K64(q, t)), q->ncols), n0), 1);
  for (int i = 0; i < 2 * q->nr; i++)
    idx[i] = cg_i32(q->cx, i);
  LLVMValueRef lo = LLVMBuildShuffleVector(q->b, r[0], r[1], LLVMConstVector(idx, 2 * (unsigned)q->nr), "");
  LLVMValueRef hi = LLVMBuildShuffleVector(q->b, r[2], r[3], LLVMConstVector(idx, 2 * (unsigned)q->nr), "");
  for (int c = 0; c < q->nr; c++)
    for (int t = 0; t < 4; t++)
      idx[4 * c + t] = cg_i32(q->cx, t * q->nr + c);
  store_at(q, LLVMBuildShuffleVector(q->b, lo, hi, LLVMConstVector(idx, 4 * (unsigned)q->nr), ""), out, gbase, 32);
}

/* Panels [lo, hi) of the weights w into out: byte (g, c, t) of panel pn is
 * W[k = 4g + t, n = pn NR + c] (tb: stored as w[n, k]), 0 past K or N.
 * A group inside the weights moves whole: four rows shuffled together, or
 * (tb) one i32 per column; the edges byte by byte. */
static void pack_weights(Q *q, LLVMValueRef w, LLVMValueRef out, LLVMValueRef lo, LLVMValueRef hi) {
  LLVMBuilderRef b = q->b;
  int64_t N = q->ncols, K = q->K;
  bool tb = q->nd->at.tb;
  CgFor pn, g, c;
  cg_for_begin(q->F, &pn, lo, hi, "panel");
  cg_for_begin(q->F, &g, K64(q, 0), K64(q, q->G), "kgroup");
  LLVMValueRef gbase = mul(q, add(q, mul(q, pn.iv, q->G), g.iv), (int64_t)q->nr * 4);
  LLVMValueRef n0 = mul(q, pn.iv, q->nr);
  LLVMValueRef inside = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSLT, pn.iv, K64(q, N / q->nr), ""),
                                     LLVMBuildICmp(b, LLVMIntSLT, g.iv, K64(q, K / 4), ""), "inside");
  LLVMBasicBlockRef whole = LLVMAppendBasicBlockInContext(q->cx->llc, q->F->fn, "whole_group");
  LLVMBasicBlockRef edge = LLVMAppendBasicBlockInContext(q->cx->llc, q->F->fn, "edge_group");
  LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(q->cx->llc, q->F->fn, "packed");
  LLVMBuildCondBr(b, inside, whole, edge);
  LLVMPositionBuilderAtEnd(b, whole);
  if (!tb) {
    pack_rows(q, w, out, gbase, g.iv, n0);
  } else {
    cg_for_begin(q->F, &c, K64(q, 0), K64(q, q->nr), "col");
    LLVMValueRef word = load_at(q, q->cx->t_i32, w, add(q, mul(q, add(q, n0, c.iv), K), mul(q, g.iv, 4)), 1);
    store_at(q, word, out, add(q, gbase, mul(q, c.iv, 4)), 4);
    cg_for_end(q->F, &c);
  }
  LLVMBuildBr(b, next);
  LLVMPositionBuilderAtEnd(b, edge);
  cg_for_begin(q->F, &c, K64(q, 0), K64(q, q->nr), "col");
  LLVMValueRef n = add(q, mul(q, pn.iv, q->nr), c.iv);
  LLVMValueRef n_in = LLVMBuildICmp(b, LLVMIntSLT, n, K64(q, N), "");
  for (int t = 0; t < 4; t++) {
    LLVMValueRef k = add(q, mul(q, g.iv, 4), K64(q, t));
    LLVMValueRef ok = LLVMBuildAnd(b, n_in, LLVMBuildICmp(b, LLVMIntSLT, k, K64(q, K), ""), "");
    LLVMValueRef idx = tb ? add(q, mul(q, n, K), k) : add(q, mul(q, k, N), n);
    LLVMValueRef byte = load_at(q, t_i8(q), w, LLVMBuildSelect(b, ok, idx, K64(q, 0), ""), 1);
    byte = LLVMBuildSelect(b, ok, byte, LLVMConstInt(t_i8(q), 0, 0), "");
    store_at(q, byte, out, add(q, gbase, add(q, mul(q, c.iv, 4), K64(q, t))), 1);
  }
  cg_for_end(q->F, &c);
  LLVMBuildBr(b, next);
  LLVMPositionBuilderAtEnd(b, next);
  cg_for_end(q->F, &g);
  cg_for_end(q->F, &pn);
}

/* Row blocks [lo, hi): rows [rb MR, rb MR + MR) of a against every panel;
 * a partial block reads its last row again for the missing ones and stores
 * only its own. With an epilogue (ep, non-NULL), ep(epctx, r0, r1, 0, N)
 * then runs on the block's rows of C, MR * N i32 just written, while they
 * are in cache: each element once, on the thread that computed it, so the
 * results are the unfused kernels' for any thread count. */
static void qmatmul_rows(Q *q, LLVMValueRef a, LLVMValueRef pk, LLVMValueRef c, LLVMValueRef M, LLVMValueRef lo,
                         LLVMValueRef hi, LLVMValueRef ep, LLVMValueRef epctx) {
  LLVMValueRef acc[MAX_MR * MAX_NV], tmp, rows[MAX_MR];
  tile_allocas(q, acc, &tmp);
  int64_t N = q->ncols, np = (N + q->nr - 1) / q->nr;
  CgFor rb, pn;
  cg_for_begin(q->F, &rb, lo, hi, "rowblock");
  LLVMValueRef r0 = mul(q, rb.iv, q->mr), last = LLVMBuildSub(q->b, M, K64(q, 1), "");
  for (int r = 0; r < q->mr; r++)
    rows[r] = LLVMBuildInBoundsGEP2(q->b, t_i8(q), a, (LLVMValueRef[]){mul(q, min64(q, add(q, r0, K64(q, r)), last), q->K)},
                                    1, "row");
  LLVMValueRef rows_left = LLVMBuildSub(q->b, M, r0, "");
  cg_for_begin(q->F, &pn, K64(q, 0), K64(q, np), "panel");
  LLVMValueRef c0 = mul(q, pn.iv, q->nr);
  tile(q, rows, LLVMBuildInBoundsGEP2(q->b, t_i8(q), pk, (LLVMValueRef[]){mul(q, pn.iv, q->G * q->nr * 4)}, 1, ""), acc);
  LLVMValueRef at = LLVMBuildInBoundsGEP2(q->b, q->cx->t_i32, c, (LLVMValueRef[]){add(q, mul(q, r0, N), c0)}, 1, "");
  store_tile(q, acc, at, K64(q, N), rows_left, LLVMBuildSub(q->b, K64(q, N), c0, ""), tmp);
  cg_for_end(q->F, &pn);
  if (ep) {
    LLVMTypeRef i64 = q->cx->t_i64, pt[5] = {q->cx->t_ptr, i64, i64, i64, i64};
    LLVMValueRef args[5] = {epctx, r0, min64(q, add(q, r0, K64(q, q->mr)), M), K64(q, 0), K64(q, N)};
    LLVMBuildCall2(q->b, LLVMFunctionType(q->cx->t_void, pt, 5, 0), ep, args, 5, "");
  }
  cg_for_end(q->F, &rb);
}

static void emit_qmatmul(Q *q, CgFn *F, const CgKernel *k, LLVMValueRef region, LLVMValueRef ep, LLVMValueRef epctx) {
  const CgPlan *p = F->p;
  const Shape *as = &p->f->nodes[q->nd->args[0]].ty.sh;
  CgMono M = cg_mono_numel(as, 0);
  M.c /= as->d[as->rank - 1]; /* rows: every axis but the last (static K) */
  LLVMBasicBlockRef at = LLVMGetInsertBlock(F->cx->b);
  CgFn G;
  fn_open(q, &G, p, "qpack", 2);
  pack_weights(q, cg_fn_param(&G, 0), cg_fn_param(&G, 1), cg_fn_param(&G, 3), cg_fn_param(&G, 4));
  LLVMValueRef pack = fn_body(q, &G, 2);
  int nptr = ep ? 5 : 3; /* a, the packed weights, c; the epilogue and its ctx */
  fn_open(q, &G, p, "qmatmul", nptr);
  qmatmul_rows(q, cg_fn_param(&G, 0), cg_fn_param(&G, 1), cg_fn_param(&G, 2), cg_mono_val(&G, M),
               cg_fn_param(&G, nptr + 1), cg_fn_param(&G, nptr + 2), ep ? cg_fn_param(&G, 3) : NULL,
               ep ? cg_fn_param(&G, 4) : NULL);
  LLVMValueRef gemm = fn_body(q, &G, nptr);
  LLVMPositionBuilderAtEnd(F->cx->b, at);
  q->F = F;
  LLVMValueRef w = operand_ptr(F, q->nd, 1), a = operand_ptr(F, q->nd, 0), c = cg_buf_ptr(F, k->exp[0].buf);
  run_on_pool(F, pack, (LLVMValueRef[]){w, region}, 2, K64(q, (q->ncols + q->nr - 1) / q->nr));
  LLVMValueRef Mv = cg_mono_val(F, M);
  LLVMValueRef nblocks = LLVMBuildSDiv(q->b, add(q, Mv, K64(q, q->mr - 1)), K64(q, q->mr), "");
  run_on_pool(F, gemm, (LLVMValueRef[]){a, region, c, ep, epctx}, nptr, nblocks);
}

/* ---- qconv2d ---- */

/* The im2col of output positions [pn NR, pn NR + NR) of one image xb,
 * packed into out: byte (g, c, t) is X[k = 4g + t, pos = pn NR + c] =
 * x[ci, oh s - pad + kh, ow s - pad + kw] for k = (ci, kh, kw) in the
 * filters' order, the zero point at padding taps (and past the last
 * position, which no store reads), 0 past K. */
static void pack_im2col(Q *q, const Shape *xs, LLVMValueRef xb, LLVMValueRef out, LLVMValueRef pn) {
  LLVMBuilderRef b = q->b;
  const IrNode *nd = q->nd;
  int64_t H = xs->d[2], W = xs->d[3], ks = q->F->p->f->nodes[nd->args[1]].ty.sh.d[2];
  int64_t OW = nd->ty.sh.d[3];
  LLVMValueRef zp = LLVMConstInt(t_i8(q), (unsigned long long)(int64_t)nd->at.value, 0);
  CgFor kf, c;
  for (int64_t k = q->K; k < 4 * q->G; k++) { /* the last group's padding */
    cg_for_begin(q->F, &c, K64(q, 0), K64(q, q->nr), "col");
    store_at(q, LLVMConstInt(t_i8(q), 0, 0), out, add(q, mul(q, c.iv, 4), K64(q, (k / 4) * q->nr * 4 + k % 4)), 1);
    cg_for_end(q->F, &c);
  }
  cg_for_begin(q->F, &kf, K64(q, 0), K64(q, q->K), "tap");
  LLVMValueRef ci = LLVMBuildSDiv(b, kf.iv, K64(q, ks * ks), "");
  LLVMValueRef kh = LLVMBuildSRem(b, LLVMBuildSDiv(b, kf.iv, K64(q, ks), ""), K64(q, ks), "");
  LLVMValueRef kw = LLVMBuildSRem(b, kf.iv, K64(q, ks), "");
  LLVMValueRef plane = mul(q, ci, H * W);
  LLVMValueRef dst = add(q, mul(q, LLVMBuildSDiv(b, kf.iv, K64(q, 4), ""), (int64_t)q->nr * 4),
                         LLVMBuildSRem(b, kf.iv, K64(q, 4), ""));
  cg_for_begin(q->F, &c, K64(q, 0), K64(q, q->nr), "col");
  LLVMValueRef pos = add(q, mul(q, pn, q->nr), c.iv);
  LLVMValueRef oh = LLVMBuildSDiv(b, pos, K64(q, OW), ""), ow = LLVMBuildSRem(b, pos, K64(q, OW), "");
  LLVMValueRef ih = add(q, LLVMBuildSub(b, mul(q, oh, nd->at.stride), K64(q, nd->at.pad), ""), kh);
  LLVMValueRef iw = add(q, LLVMBuildSub(b, mul(q, ow, nd->at.stride), K64(q, nd->at.pad), ""), kw);
  /* one unsigned compare per axis catches both sides */
  LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntULT, ih, K64(q, H), ""),
                                 LLVMBuildICmp(b, LLVMIntULT, iw, K64(q, W), ""), "inside");
  LLVMValueRef idx = LLVMBuildSelect(b, in, add(q, plane, add(q, mul(q, ih, W), iw)), K64(q, 0), "");
  LLVMValueRef v = LLVMBuildSelect(b, in, load_at(q, t_i8(q), xb, idx, 1), zp, "");
  store_at(q, v, out, add(q, dst, mul(q, c.iv, 4)), 1);
  cg_for_end(q->F, &c);
  cg_for_end(q->F, &kf);
}

/* Tasks [lo, hi) of (image, panel) pairs: pack the panel's im2col, then
 * every block of MR filters against it. */
static void qconv_tasks(Q *q, LLVMValueRef x, LLVMValueRef w, LLVMValueRef y, LLVMValueRef lo, LLVMValueRef hi) {
  const Shape *xs = &q->F->p->f->nodes[q->nd->args[0]].ty.sh;
  int64_t F = q->F->p->f->nodes[q->nd->args[1]].ty.sh.d[0], P = q->ncols;
  int64_t np = (P + q->nr - 1) / q->nr, nfb = (F + q->mr - 1) / q->mr;
  LLVMValueRef acc[MAX_MR * MAX_NV], tmp, rows[MAX_MR];
  tile_allocas(q, acc, &tmp);
  LLVMValueRef pk = LLVMBuildArrayAlloca(q->F->pre, t_i8(q), K64(q, q->G * q->nr * 4), "im2col");
  LLVMSetAlignment(pk, 64);
  CgFor t, fb;
  cg_for_begin(q->F, &t, lo, hi, "task");
  LLVMValueRef img = LLVMBuildSDiv(q->b, t.iv, K64(q, np), "img"), pn = LLVMBuildSRem(q->b, t.iv, K64(q, np), "panel");
  LLVMValueRef xb = LLVMBuildInBoundsGEP2(q->b, t_i8(q), x, (LLVMValueRef[]){mul(q, img, xs->d[1] * xs->d[2] * xs->d[3])}, 1, "");
  pack_im2col(q, xs, xb, pk, pn);
  LLVMValueRef c0 = mul(q, pn, q->nr);
  LLVMValueRef yb = add(q, mul(q, img, F * P), c0);
  cg_for_begin(q->F, &fb, K64(q, 0), K64(q, nfb), "filters");
  LLVMValueRef f0 = mul(q, fb.iv, q->mr);
  for (int r = 0; r < q->mr; r++)
    rows[r] = LLVMBuildInBoundsGEP2(q->b, t_i8(q), w, (LLVMValueRef[]){mul(q, min64(q, add(q, f0, K64(q, r)), K64(q, F - 1)), q->K)},
                                    1, "filter");
  tile(q, rows, pk, acc);
  LLVMValueRef at = LLVMBuildInBoundsGEP2(q->b, q->cx->t_i32, y, (LLVMValueRef[]){add(q, yb, mul(q, f0, P))}, 1, "");
  store_tile(q, acc, at, K64(q, P), LLVMBuildSub(q->b, K64(q, F), f0, ""), LLVMBuildSub(q->b, K64(q, P), c0, ""), tmp);
  cg_for_end(q->F, &fb);
  cg_for_end(q->F, &t);
}

static void emit_qconv2d(Q *q, CgFn *F, const CgKernel *k) {
  const CgPlan *p = F->p;
  const Shape *xs = &p->f->nodes[q->nd->args[0]].ty.sh;
  LLVMBasicBlockRef at = LLVMGetInsertBlock(F->cx->b);
  CgFn G;
  fn_open(q, &G, p, "qconv2d", 3);
  qconv_tasks(q, cg_fn_param(&G, 0), cg_fn_param(&G, 1), cg_fn_param(&G, 2), cg_fn_param(&G, 4), cg_fn_param(&G, 5));
  LLVMValueRef body = fn_body(q, &G, 3);
  LLVMPositionBuilderAtEnd(F->cx->b, at);
  q->F = F;
  LLVMValueRef ptrs[3] = {operand_ptr(F, q->nd, 0), operand_ptr(F, q->nd, 1), cg_buf_ptr(F, k->exp[0].buf)};
  LLVMValueRef ntasks = mul(q, cg_mono_val(F, cg_mono_dim(xs->d[0])), (q->ncols + q->nr - 1) / q->nr);
  run_on_pool(F, body, ptrs, 3, ntasks);
}

/* ---- entry points ---- */

void cg_emit_qgemm(CgFn *F, const CgKernel *k, LLVMValueRef region, LLVMValueRef ep, LLVMValueRef ctx) {
  Q q = plan_q(F->cx, F->p, k);
  q.F = F;
  if (q.nd->op == OP_QMATMUL) emit_qmatmul(&q, F, k, region, ep, ctx);
  else if (ep) unreachable("qconv2d has no epilogue (ir/groups.c)");
  else emit_qconv2d(&q, F, k);
}

LLVMValueRef cg_qgemm_region_bytes(CgFn *F, const CgKernel *k) {
  Q q = plan_q(F->cx, F->p, k);
  int64_t np = (q.ncols + q.nr - 1) / q.nr;
  return cg_i64(F->cx, q.nd->op == OP_QMATMUL ? np * q.G * q.nr * 4 : 0);
}
