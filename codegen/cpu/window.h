/* window.h — what the window kernels share (k_window.c: the scalar walk,
 * the pools and the dispatch; k_conv.c: the convolutions in explicit
 * vectors): their state, the index and vector helpers, and k_conv.c's
 * entry points. Internal to codegen/cpu. */
#ifndef NNC_CODEGEN_CPU_WINDOW_H
#define NNC_CODEGEN_CPU_WINDOW_H

#include "cg.h"

#define PV 16 /* lanes of the explicit vectors: one AVX-512 register of f32 */

typedef struct Wk {
  CgFn *F;
  CgCtx *cx;
  LLVMBuilderRef b;
  OpKind op;
  int64_t C, H, W, Fo, OH, OW, K; /* Fo: output channels (C for pools) */
  int stride, pad;
  LLVMValueRef x, w, dy, out; /* w: conv filters; dy: the gradients' seed */
  LLVMValueRef acc, best;     /* allocas: running sum or max, argmax */
  bool flip;                  /* cg_conv_vec computing an input gradient (cg_conv_vec_role) */
  LLVMValueRef xp;            /* cg_conv_vec's phased copy of a sample (Phased, k_conv.c), or NULL */
  int dil;                    /* the copy spreads the input dil apart (0: 1) */
} Wk;

static inline LLVMValueRef K64(Wk *k, int64_t v) { return cg_i64(k->cx, v); }
static inline LLVMValueRef add(Wk *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(k->b, a, b, ""); }
static inline LLVMValueRef mul(Wk *k, LLVMValueRef a, int64_t c) { return LLVMBuildNSWMul(k->b, a, K64(k, c), ""); }

/* Row-major index ((a * B + b) * C + c) * D + d. */
static inline LLVMValueRef idx4(Wk *k, LLVMValueRef a, int64_t B, LLVMValueRef b, int64_t C, LLVMValueRef c, int64_t D,
                         LLVMValueRef d) {
  return add(k, mul(k, add(k, mul(k, add(k, mul(k, a, B), b), C), c), D), d);
}

static inline LLVMValueRef ld(Wk *k, LLVMValueRef base, LLVMValueRef i) {
  LLVMValueRef v = LLVMBuildLoad2(k->b, k->cx->t_f32, cg_gep(k->F, k->cx->t_f32, base, i), "");
  LLVMSetAlignment(v, 4);
  return v;
}

static inline void st(Wk *k, LLVMValueRef base, LLVMValueRef i, LLVMValueRef v) {
  LLVMSetAlignment(LLVMBuildStore(k->b, v, cg_gep(k->F, k->cx->t_f32, base, i)), 4);
}

static inline LLVMValueRef smax(Wk *k, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSGT, a, b, ""), a, b, "");
}
static inline LLVMValueRef smin(Wk *k, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, a, b, ""), a, b, "");
}

/* The taps [lo, hi) of the window at output position o that land inside an
 * input axis of n positions; the input position of tap t is base + t. */
static inline void taps(Wk *k, LLVMValueRef o, int64_t n, LLVMValueRef *base, LLVMValueRef *lo, LLVMValueRef *hi) {
  *base = LLVMBuildNSWSub(k->b, mul(k, o, k->stride), K64(k, k->pad), "");
  *lo = smax(k, K64(k, 0), LLVMBuildNSWNeg(k->b, *base, ""));
  *hi = smin(k, K64(k, k->K), LLVMBuildNSWSub(k->b, K64(k, n), *base, ""));
}

static inline LLVMValueRef widx(Wk *k, LLVMValueRef *ctx, LLVMValueRef kh, LLVMValueRef kw) {
  return idx4(k, ctx[0], k->C, ctx[1], k->K, kh, k->K, kw);
}

/* ---- explicit vectors of PV lanes ---- */

static inline LLVMTypeRef pv_type(LLVMTypeRef elem) { return LLVMVectorType(elem, PV); }

/* v in every lane. */
static inline LLVMValueRef pv_splat(Wk *k, LLVMValueRef v) {
  LLVMValueRef lanes[PV];
  if (LLVMIsConstant(v)) {
    for (int i = 0; i < PV; i++) lanes[i] = v;
    return LLVMConstVector(lanes, PV);
  }
  LLVMValueRef one = LLVMBuildInsertElement(k->b, LLVMGetPoison(pv_type(LLVMTypeOf(v))), v, cg_i32(k->cx, 0), "");
  return LLVMBuildShuffleVector(k->b, one, one, LLVMConstNull(pv_type(k->cx->t_i32)), "");
}

/* Lanes [0, n) of a PV-lane mask, n an i64 that may be <= 0 or >= PV. */
static inline LLVMValueRef pv_mask(Wk *k, LLVMValueRef n) {
  LLVMValueRef iota[PV];
  for (int i = 0; i < PV; i++) iota[i] = cg_i64(k->cx, i);
  LLVMValueRef splat = pv_splat(k, n);
  return LLVMBuildICmp(k->b, LLVMIntSLT, LLVMConstVector(iota, PV), splat, "");
}

static inline LLVMValueRef pv_masked(Wk *k, const char *name, LLVMValueRef *args, int nargs) {
  LLVMTypeRef tys[2] = {pv_type(k->cx->t_f32), k->cx->t_ptr};
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(k->cx->mod, id, tys, 2);
  return LLVMBuildCall2(k->b, LLVMIntrinsicGetType(k->cx->llc, id, tys, 2), fn, args, (unsigned)nargs, "");
}

static inline LLVMValueRef pv_load(Wk *k, LLVMValueRef base, LLVMValueRef i, LLVMValueRef mask) {
  LLVMValueRef args[4] = {cg_gep(k->F, k->cx->t_f32, base, i), cg_i32(k->cx, 4), mask,
                          LLVMConstNull(pv_type(k->cx->t_f32))};
  return pv_masked(k, "llvm.masked.load", args, 4);
}

static inline void pv_store(Wk *k, LLVMValueRef base, LLVMValueRef i, LLVMValueRef v, LLVMValueRef mask) {
  LLVMValueRef args[4] = {v, cg_gep(k->F, k->cx->t_f32, base, i), cg_i32(k->cx, 4), mask};
  pv_masked(k, "llvm.masked.store", args, 4);
}

/* ---- k_conv.c ---- */

/* Whether cg_conv_vec runs k (conv2d, or conv2d_grad_input as a
 * convolution of dy), and the loop it runs for it: k itself, or the input
 * gradient's roles (cg_conv_vec_role). cg_conv_vec_setup, before the
 * samples' loop, allocates and zeroes the padded copy it reads, if any;
 * cg_conv_vec then computes sample n. */
bool cg_conv_vec_fits(const Wk *k);
Wk cg_conv_vec_role(const Wk *k);
void cg_conv_vec_setup(Wk *k);
void cg_conv_vec(Wk *k, LLVMValueRef n);

/* The weight gradient as flat dot products: the filters per block (0: it
 * does not fit; the scalar walk then), and filters [blk * db, blk * db + db)
 * of dw (zeroed) over all N samples. */
int cg_conv_dw_block(const Wk *k);
void cg_conv_dw_flat(Wk *k, LLVMValueRef blk, LLVMValueRef N, int db);

#endif
