/* k_elem.c — elementwise kernels: one op table, one loop nest.
 *
 * An elementwise kernel is a fused group (or one node, or a copy of a view
 * into memory): a loop nest over the exports' shape in row-major order,
 * each member computed at its level (nest.c) and every export stored at the
 * innermost level. Members that nothing outside reads stay in registers:
 * that is what fusion buys. Operand broadcasting needs no code here: it is
 * the zero strides of the loads.
 *
 * The op table maps each elementwise op to an emitter. Arithmetic is f32
 * but for cast and the int8 boundary ops (quantize to u8/i8, dequantize
 * from i32 sums), which take their types from their nodes like cast. */
#include "cg.h"

#include <string.h>

typedef LLVMValueRef (*EwFn)(CgCtx *cx, const IrNode *n, LLVMValueRef *a);

static LLVMValueRef sel01(CgCtx *cx, LLVMValueRef cond) {
  return LLVMBuildSelect(cx->b, cond, cg_f32(cx, 1), cg_f32(cx, 0), "");
}

static LLVMValueRef ew_neg(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  (void)n;
  return LLVMBuildFNeg(cx->b, a[0], "");
}

/* Comparisons: ordered predicates (false with a NaN), but for ne, which is
 * unordered (true with a NaN), as C's and PyTorch's operators. */
static const LLVMRealPredicate cmp_pred[OP_COUNT] = {[OP_EQ] = LLVMRealOEQ, [OP_NE] = LLVMRealUNE, [OP_LT] = LLVMRealOLT,
                                                     [OP_LE] = LLVMRealOLE, [OP_GT] = LLVMRealOGT, [OP_GE] = LLVMRealOGE};

static LLVMValueRef ew_cmp(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  return sel01(cx, LLVMBuildFCmp(cx->b, cmp_pred[n->op], a[0], a[1], ""));
}

/* where: cond != 0 (a NaN cond counts as true, as in C) picks a. */
static LLVMValueRef ew_where(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  (void)n;
  return LLVMBuildSelect(cx->b, LLVMBuildFCmp(cx->b, LLVMRealUNE, a[0], cg_f32(cx, 0), ""), a[1], a[2], "");
}

/* relu is x <= 0 ? 0 : x and step, its derivative, x <= 0 ? 0 : 1: an
 * ordered compare is false with a NaN, so relu(NaN) is NaN and step(NaN) 1
 * (PyTorch's threshold_backward passes the gradient at a NaN). Selects, so
 * that they vectorize to a compare and a blend. */
static LLVMValueRef ew_relu(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  (void)n;
  LLVMValueRef c = LLVMBuildFCmp(cx->b, LLVMRealOLE, a[0], cg_f32(cx, 0), "");
  return LLVMBuildSelect(cx->b, c, cg_f32(cx, 0), a[0], "");
}

static LLVMValueRef ew_step(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  (void)n;
  return sel01(cx, LLVMBuildFCmp(cx->b, LLVMRealUGT, a[0], cg_f32(cx, 0), ""));
}

/* a * b + c as one fused multiply-add where the CPU has it (llvm.fmuladd:
 * LLVM fuses it in the scalar and the vector loops alike, so a value still
 * does not depend on where a loop's vector part ends), for the polynomials
 * below: Horner's steps are their longest chain, and a fused step is one
 * instruction of 4 cycles instead of two of 3 + 3. */
static LLVMValueRef muladd(CgCtx *cx, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return cg_intrinsic(cx, "llvm.fmuladd", args, 3);
}

/* e^x as Cephes's expf (Eigen's pexp): x = m ln2 + r with |r| <= ln2/2, a
 * polynomial for e^r, times 2^m in two halves so that results down to the
 * subnormals come out right (one 2^m leaves the exponent range below
 * m = -126), and 0 below -104, where expf rounds to 0 (without computing
 * a subnormal there). Within 2 ulp of expf; unlike a libm call (what the llvm.exp
 * intrinsic becomes) it vectorizes, and the vector and scalar loops compute
 * it with the same instructions, so a value does not depend on where a
 * loop's vector part ends (on --threads). The clamps are ordered compares:
 * NaN passes through them and is returned as is (the float-to-int of NaN
 * is poison, but the final select does not pick it). */
LLVMValueRef cg_exp(CgCtx *cx, LLVMValueRef x) {
  static const double p[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                             4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
  LLVMBuilderRef b = cx->b;
  LLVMValueRef hi = cg_f32(cx, 89.0), lo = cg_f32(cx, -104.0);
  LLVMValueRef c = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, hi, ""), hi, x, "");
  /* Below -104 e^x rounds to 0 in f32: return 0, and compute on x = 0
   * meanwhile, since the product below would be subnormal there, and a
   * subnormal result costs a microcode assist of ~100 cycles on x86: a
   * causal mask's -inf scores (half of them) made softmax 3-7x slower. */
  LLVMValueRef under = LLVMBuildFCmp(b, LLVMRealOLT, c, lo, "");
  c = LLVMBuildSelect(b, under, cg_f32(cx, 0), c, "");
  LLVMValueRef t = muladd(cx, c, cg_f32(cx, 1.44269504088896341), cg_f32(cx, 0.5));
  LLVMValueRef m = cg_intrinsic(cx, "llvm.floor", &t, 1);
  LLVMValueRef r = muladd(cx, m, cg_f32(cx, -0.693359375), c);
  r = muladd(cx, m, cg_f32(cx, 2.12194440e-4), r);
  LLVMValueRef y = cg_f32(cx, p[0]);
  for (int i = 1; i < 6; i++)
    y = muladd(cx, y, r, cg_f32(cx, p[i]));
  y = muladd(cx, y, LLVMBuildFMul(b, r, r, ""), r);
  y = LLVMBuildFAdd(b, y, cg_f32(cx, 1), "");
  /* 2^m = 2^e1 2^e2 with e1 = m >> 1: both in [-75, 65], normal floats */
  LLVMValueRef mi = LLVMBuildFPToSI(b, m, cx->t_i32, "");
  LLVMValueRef e1 = LLVMBuildAShr(b, mi, cg_i32(cx, 1), ""), e2 = LLVMBuildSub(b, mi, e1, "");
  LLVMValueRef s1 = LLVMBuildShl(b, LLVMBuildAdd(b, e1, cg_i32(cx, 127), ""), cg_i32(cx, 23), "");
  LLVMValueRef s2 = LLVMBuildShl(b, LLVMBuildAdd(b, e2, cg_i32(cx, 127), ""), cg_i32(cx, 23), "");
  y = LLVMBuildFMul(b, LLVMBuildFMul(b, y, LLVMBuildBitCast(b, s1, cx->t_f32, ""), ""),
                    LLVMBuildBitCast(b, s2, cx->t_f32, ""), "");
  y = LLVMBuildSelect(b, under, cg_f32(cx, 0), y, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), x, y, "");
}

static LLVMValueRef ew_exp(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  (void)n;
  return cg_exp(cx, a[0]);
}

static LLVMValueRef ew_log(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  (void)n;
  return cg_intrinsic(cx, "llvm.log", a, 1);
}
static LLVMValueRef ew_sqrt(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  (void)n;
  return cg_intrinsic(cx, "llvm.sqrt", a, 1);
}

static LLVMValueRef ew_sigmoid(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  (void)n;
  LLVMValueRef nx = LLVMBuildFNeg(cx->b, a[0], "");
  LLVMValueRef e = cg_exp(cx, nx);
  return LLVMBuildFDiv(cx->b, cg_f32(cx, 1), LLVMBuildFAdd(cx->b, cg_f32(cx, 1), e, ""), "");
}

/* tanh as Eigen's rational approximation (13/6 odd/even polynomials on the
 * clamped argument): within 3 ulp of tanhf, and unlike a libm call it
 * vectorizes. Below 4e-4 tanh(x) rounds to x. */
static LLVMValueRef ew_tanh(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  (void)n;
  static const double alpha[] = {-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
                                 5.12229709037114e-08,  1.48572235717979e-05, 6.37261928875436e-04,
                                 4.89352455891786e-03};
  static const double beta[] = {1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03};
  LLVMBuilderRef b = cx->b;
  LLVMValueRef lim = cg_f32(cx, 7.90531110763549805), x = a[0];
  LLVMValueRef c = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, lim, ""), lim, x, "");
  LLVMValueRef nlim = cg_f32(cx, -7.90531110763549805);
  c = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, c, nlim, ""), nlim, c, "");
  LLVMValueRef x2 = LLVMBuildFMul(b, c, c, "");
  LLVMValueRef p = cg_f32(cx, alpha[0]);
  for (int i = 1; i < 7; i++)
    p = muladd(cx, x2, p, cg_f32(cx, alpha[i]));
  p = LLVMBuildFMul(b, c, p, "");
  LLVMValueRef q = cg_f32(cx, beta[0]);
  for (int i = 1; i < 4; i++)
    q = muladd(cx, x2, q, cg_f32(cx, beta[i]));
  LLVMValueRef r = LLVMBuildFDiv(b, p, q, "");
  LLVMValueRef ax = cg_intrinsic(cx, "llvm.fabs", &x, 1);
  /* Past 9.0109 tanh(x) rounds to +-1 (1 - tanh x < 2^-25): exactly, as
   * tanhf returns it, so that a saturated tanh has a gradient of exactly 0.
   * The clamped rational function gives 1 - 1 ulp there once its Horner
   * steps are fused. */
  LLVMValueRef one = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, cg_f32(cx, 0), ""), cg_f32(cx, -1),
                                     cg_f32(cx, 1), "");
  r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, ax, cg_f32(cx, 9.0109), ""), one, r, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, ax, cg_f32(cx, 0.0004), ""), x, r, "");
}

/* gelu's tanh approximation (ir.h), through the same tanh as the op. */
static LLVMValueRef ew_gelu(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  LLVMBuilderRef b = cx->b;
  LLVMValueRef x = a[0], x2 = LLVMBuildFMul(b, x, x, "");
  LLVMValueRef inner = LLVMBuildFAdd(b, cg_f32(cx, 1), LLVMBuildFMul(b, x2, cg_f32(cx, IR_GELU_A), ""), "");
  LLVMValueRef u = LLVMBuildFMul(b, x, LLVMBuildFMul(b, inner, cg_f32(cx, IR_GELU_C), ""), "");
  LLVMValueRef t = ew_tanh(cx, n, &u);
  LLVMValueRef hx = LLVMBuildFMul(b, cg_f32(cx, 0.5), x, "");
  return LLVMBuildFMul(b, hx, LLVMBuildFAdd(b, cg_f32(cx, 1), t, ""), "");
}

/* leaky_relu and elu: x above 0, their attribute's slope or curve below,
 * as selects (a compare and a blend once vectorized). elu's e^x - 1 is
 * off by at most an f32 ulp of 1 near 0, where expm1 would be exact. */
static LLVMValueRef ew_leaky_relu(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  LLVMValueRef c = LLVMBuildFCmp(cx->b, LLVMRealOGT, a[0], cg_f32(cx, 0), "");
  return LLVMBuildSelect(cx->b, c, a[0], LLVMBuildFMul(cx->b, a[0], cg_f32(cx, n->at.value), ""), "");
}

static LLVMValueRef ew_elu(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  LLVMBuilderRef b = cx->b;
  LLVMValueRef em1 = LLVMBuildFSub(b, cg_exp(cx, a[0]), cg_f32(cx, 1), "");
  LLVMValueRef c = LLVMBuildFCmp(b, LLVMRealOGT, a[0], cg_f32(cx, 0), "");
  return LLVMBuildSelect(b, c, a[0], LLVMBuildFMul(b, em1, cg_f32(cx, n->at.value), ""), "");
}

static LLVMValueRef ew_silu(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  return LLVMBuildFMul(cx->b, a[0], ew_sigmoid(cx, n, a), "");
}

/* log(1 + u), u = e^x, as log1p without a libm call (Goldberg's trick):
 * w = 1 + u rounded, then log(w) u / (w - 1) cancels w's rounding error;
 * where w rounds to 1 the answer is u. Above the threshold, x (ir.h); the
 * other arm's inf/NaN there is discarded by the select. */
static LLVMValueRef ew_softplus(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  (void)n;
  LLVMBuilderRef b = cx->b;
  LLVMValueRef u = cg_exp(cx, a[0]), w = LLVMBuildFAdd(b, cg_f32(cx, 1), u, "");
  LLVMValueRef lw = cg_intrinsic(cx, "llvm.log", &w, 1);
  LLVMValueRef r = LLVMBuildFDiv(b, LLVMBuildFMul(b, lw, u, ""), LLVMBuildFSub(b, w, cg_f32(cx, 1), ""), "");
  r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, w, cg_f32(cx, 1), ""), u, r, "");
  LLVMValueRef big = LLVMBuildFCmp(b, LLVMRealOGT, a[0], cg_f32(cx, IR_SOFTPLUS_THRESHOLD), "");
  return LLVMBuildSelect(b, big, a[0], r, "");
}

/* Small integer and half exponents become multiplies and square roots: the
 * Adam update's g^2 should not be a call to powf. */
static LLVMValueRef ew_pow(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  LLVMBuilderRef b = cx->b;
  double e = n->at.value;
  LLVMValueRef x = a[0];
  if (e == 0) return cg_f32(cx, 1);
  if (e == 1) return x;
  if (e == 2) return LLVMBuildFMul(b, x, x, "");
  if (e == 3) return LLVMBuildFMul(b, LLVMBuildFMul(b, x, x, ""), x, "");
  if (e == -1) return LLVMBuildFDiv(b, cg_f32(cx, 1), x, "");
  if (e == -2) return LLVMBuildFDiv(b, cg_f32(cx, 1), LLVMBuildFMul(b, x, x, ""), "");
  if (e == 0.5) return cg_intrinsic(cx, "llvm.sqrt", &x, 1);
  if (e == -0.5) return LLVMBuildFDiv(b, cg_f32(cx, 1), cg_intrinsic(cx, "llvm.sqrt", &x, 1), "");
  LLVMValueRef args[2] = {x, cg_f32(cx, e)};
  return cg_intrinsic(cx, "llvm.pow", args, 2);
}

/* fake_quant and its gradient as the interpreter defines them: the level
 * q = roundeven(x / s) + Z in f32 (exact: levels are integers within 2^24),
 * clamped by ordered compares so that a NaN stays NaN, as selects that
 * vectorize to a round, compares and blends. */
static LLVMValueRef ew_fake_quant(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  LLVMBuilderRef b = cx->b;
  LLVMValueRef r = LLVMBuildFDiv(b, a[0], a[1], ""), z = cg_f32(cx, n->at.value);
  LLVMValueRef q = LLVMBuildFAdd(b, cg_intrinsic(cx, "llvm.roundeven", &r, 1), z, "");
  LLVMValueRef lo = cg_f32(cx, n->at.qmin), hi = cg_f32(cx, n->at.qmax);
  if (n->op == OP_FAKE_QUANT_GRAD) {
    LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildFCmp(b, LLVMRealOGE, q, lo, ""), LLVMBuildFCmp(b, LLVMRealOLE, q, hi, ""), "");
    return LLVMBuildSelect(b, in, a[2], cg_f32(cx, 0), "");
  }
  q = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, q, lo, ""), lo, q, "");
  q = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, q, hi, ""), hi, q, "");
  return LLVMBuildFMul(b, LLVMBuildFSub(b, q, z, ""), a[1], "");
}

/* ir_dtype_convert's rules: float -> int truncates and saturates (the
 * llvm.fpto[su]i.sat intrinsics, NaN to 0; a plain fptosi is poison out of
 * range), int -> int wraps or extends by the source's signedness, int ->
 * float rounds to nearest. */
LLVMValueRef cg_convert(CgCtx *cx, LLVMValueRef v, DType from, DType to) {
  if (from == to) return v;
  LLVMTypeRef t = cg_dtype(cx, to);
  bool ff = ir_dtype_is_float(from), tf = ir_dtype_is_float(to);
  if (ff && tf) return LLVMBuildFPCast(cx->b, v, t, "");
  if (!ff && !tf) return LLVMBuildIntCast2(cx->b, v, t, ir_dtype_is_signed(from), "");
  if (!ff) return ir_dtype_is_signed(from) ? LLVMBuildSIToFP(cx->b, v, t, "") : LLVMBuildUIToFP(cx->b, v, t, "");
  const char *name = ir_dtype_is_signed(to) ? "llvm.fptosi.sat" : "llvm.fptoui.sat";
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMTypeRef ov[2] = {t, LLVMTypeOf(v)};
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cx->mod, id, ov, 2);
  return LLVMBuildCall2(cx->b, LLVMIntrinsicGetType(cx->llc, id, ov, 2), fn, &v, 1, "");
}

/* quantize: round_half_even(x / scale) + Z clamped to the result type, as
 * the interpreter defines it (a true division, never a reciprocal: the
 * rounding must see the same quotient). The clamp is maxnum then minnum,
 * which send a NaN to the low end; after it the value is an integer in
 * range, so a plain fptosi is exact (no poison). */
static LLVMValueRef ew_quantize(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  LLVMBuilderRef b = cx->b;
  int bits = 8 * ir_dtype_size(n->ty.dt);
  double lo = ir_dtype_is_signed(n->ty.dt) ? -(double)(1 << (bits - 1)) : 0, hi = lo + (double)(1 << bits) - 1;
  LLVMValueRef q = LLVMBuildFDiv(b, a[0], a[1], "");
  q = cg_intrinsic(cx, "llvm.roundeven", &q, 1);
  q = LLVMBuildFAdd(b, q, cg_f32(cx, n->at.value), "");
  q = cg_intrinsic(cx, "llvm.maxnum", (LLVMValueRef[]){q, cg_f32(cx, lo)}, 2);
  q = cg_intrinsic(cx, "llvm.minnum", (LLVMValueRef[]){q, cg_f32(cx, hi)}, 2);
  return LLVMBuildTrunc(b, LLVMBuildFPToSI(b, q, cx->t_i32, ""), cg_dtype(cx, n->ty.dt), "");
}

/* dequantize: f32(acc - comp) * scale, the difference wrapping in i32. */
static LLVMValueRef ew_dequantize(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  (void)n;
  LLVMValueRef d = LLVMBuildSIToFP(cx->b, LLVMBuildSub(cx->b, a[0], a[1], ""), cx->t_f32, "");
  return LLVMBuildFMul(cx->b, d, a[2], "");
}

/* add, sub, mul, div: one LLVM instruction each. */
static const LLVMOpcode bin_op[OP_COUNT] = {
    [OP_ADD] = LLVMFAdd, [OP_SUB] = LLVMFSub, [OP_MUL] = LLVMFMul, [OP_DIV] = LLVMFDiv};

static LLVMValueRef ew_arith(CgCtx *cx, const IrNode *n, LLVMValueRef *a) {
  return LLVMBuildBinOp(cx->b, bin_op[n->op], a[0], a[1], "");
}

static const EwFn ew_table[OP_COUNT] = {
    [OP_ADD] = ew_arith, [OP_SUB] = ew_arith,       [OP_MUL] = ew_arith, [OP_DIV] = ew_arith, [OP_EQ] = ew_cmp,
    [OP_NE] = ew_cmp,    [OP_LT] = ew_cmp,          [OP_LE] = ew_cmp,    [OP_GT] = ew_cmp,    [OP_GE] = ew_cmp,
    [OP_WHERE] = ew_where,
    [OP_NEG] = ew_neg,   [OP_RELU] = ew_relu,       [OP_STEP] = ew_step, [OP_EXP] = ew_exp,   [OP_LOG] = ew_log,
    [OP_SQRT] = ew_sqrt, [OP_SIGMOID] = ew_sigmoid, [OP_TANH] = ew_tanh, [OP_POW] = ew_pow,   [OP_GELU] = ew_gelu,
    [OP_LEAKY_RELU] = ew_leaky_relu, [OP_ELU] = ew_elu, [OP_SILU] = ew_silu, [OP_SOFTPLUS] = ew_softplus,
    [OP_QUANTIZE] = ew_quantize, [OP_DEQUANTIZE] = ew_dequantize,
    [OP_FAKE_QUANT] = ew_fake_quant, [OP_FAKE_QUANT_GRAD] = ew_fake_quant,
};

LLVMValueRef cg_ew_op(CgCtx *cx, const IrNode *n, const IrNode *args, LLVMValueRef *a) {
  if (n->op == OP_CAST) return cg_convert(cx, a[0], args[0].ty.dt, n->ty.dt);
  if (!ew_table[n->op]) unreachable("elementwise op without an emitter");
  return ew_table[n->op](cx, n, a);
}

/* ---- the kernel ---- */

void cg_nest_store_exports(CgNest *N) {
  CgCtx *cx = N->F->cx;
  const CgKernel *k = N->k;
  for (int e = 0; e < k->nexp; e++) {
    int x = k->exp[e].node;
    DType dt = N->p->f->nodes[x].ty.dt;
    LLVMTypeRef t = cg_dtype(cx, dt);
    LLVMValueRef off = cg_nest_offset(N, cg_nest_extra(N, e), N->nloops);
    LLVMValueRef st = LLVMBuildStore(cx->b, cg_nest_get(N, x), cg_gep(N->F, t, cg_buf_ptr(N->F, k->exp[e].buf), off));
    LLVMSetAlignment(st, cg_align(dt));
  }
}

static void ew_loops(CgNest *N, int l, CgFor *fors) {
  if (l == N->nloops) {
    cg_nest_store_exports(N);
    return;
  }
  if (l >= CG_MAX_LOOPS) unreachable("a nest deeper than its domain's rank"); /* and GCC then sees fors[l] in range */
  cg_nest_open(N, &fors[l], l);
  ew_loops(N, l + 1, fors);
  cg_nest_close(N, &fors[l]);
}

void cg_nest_init_ew(CgCtx *cx, CgNest *N, const CgPlan *p, const CgKernel *k, const int *tags) {
  int *targets = arena_alloc(cx->arena, sizeof(int) * (size_t)(k->nexp + 1));
  CgMono(*extra)[IR_MAX_RANK] = arena_alloc(cx->arena, sizeof *extra * (size_t)(k->nexp + 1));
  for (int e = 0; e < k->nexp; e++) {
    targets[e] = k->exp[e].node;
    CgView v;
    cg_view_contig(&v, k->exp[e].buf, &k->domain);
    for (int d = 0; d < k->domain.rank; d++)
      extra[e][d] = v.st[d];
  }
  cg_nest_init(N, p, k, NULL, tags, targets, k->nexp, extra, k->nexp);
}

static void kernel_ew(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf) {
  CgNest N;
  cg_nest_init_ew(cx, &N, p, k, NULL);
  CgFn F;
  cg_kernel_begin(cx, p, k, kf, &N, &F, "ew", N.nloops > 0);
  cg_nest_level(&N, 0);
  CgFor fors[CG_MAX_LOOPS];
  ew_loops(&N, 0, fors);
  cg_kernel_end(kf, &N, &F);
}

void cg_kernel(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf) {
  static void (*const table[])(CgCtx *, const CgPlan *, const CgKernel *, CgKFn *) = {[CK_EW] = kernel_ew,
                                                                                      [CK_REDUCE] = cg_kernel_reduce,
                                                                                      [CK_ROW] = cg_kernel_row,
                                                                                      [CK_ONEHOT] = cg_kernel_onehot,
                                                                                      [CK_WINDOW] = cg_kernel_window,
                                                                                      [CK_RANGE] = cg_kernel_range,
                                                                                      [CK_GATHER] = cg_kernel_gather};
  if (!table[k->kind]) unreachable("no kernel builder for this kind");
  table[k->kind](cx, p, k, kf);
}
