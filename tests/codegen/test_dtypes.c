/* test_dtypes.c — every element type of runtime/nnrt_dtypes.def through
 * the CPU backend, against the interpreter: cast between every pair (out of
 * range, infinite and NaN sources included, where the backend must
 * saturate as ir_dtype_convert says and not leave LLVM's poison), and
 * inputs, globals, consts, layout ops, stores and scan sequences, carries
 * and outputs of the integer types, whose buffers the harness sizes by the
 * table and ends at a guard page (so 4-byte accesses to an i8 fault). */
#include <string.h>

#include "harness.h"

/* cast<B>(cast<A>(x * scale)) for every pair (A, B), x in [-1, 1); the
 * scale is a power of two, so that the product is the same exact value in
 * f32 and in the interpreter's doubles. Then every integer type from
 * x / 0 (+-inf, NaN at 0) and sqrt(x) (NaN below 0). Integers must agree
 * exactly (the harness's rule); floats here are exact too. */
static void cast_pairs(double scale) {
  IrModule *m = t_module("casts");
  IrFunc *f = ir_func_new(m, IR_FN_FORWARD);
  Type s = TS(DT_F32);
  int x = ir_input(f, "x", T(DT_F32, 5, 37), (Loc){0});
  int xs = t_op(f, OP_MUL, x, ir_const(f, scale, &s, (Loc){0}));
  int inf = t_op(f, OP_DIV, x, ir_const(f, 0, &s, (Loc){0})), nan = t_op(f, OP_SQRT, x, 0);
  for (int a = 0; a < DT_COUNT; a++) {
    if (!ir_dtype_valid((DType)a)) continue;
    Type ta = T((DType)a, 5, 37);
    int va = t_attr(f, OP_CAST, xs, NULL, &ta);
    for (int b = 0; b < DT_COUNT; b++) {
      Type tb = T((DType)b, 5, 37);
      if (ir_dtype_valid((DType)b)) ir_ret(f, t_attr(f, OP_CAST, va, NULL, &tb));
    }
    if (!ir_dtype_is_float((DType)a)) {
      ir_ret(f, t_attr(f, OP_CAST, inf, NULL, &ta));
      ir_ret(f, t_attr(f, OP_CAST, nan, NULL, &ta));
    }
  }
  char name[64];
  snprintf(name, sizeof name, "cast every pair, x * %g", scale);
  t_check3(m, (CheckOpts){.tol = 1e-300}, name);
}

/* Integer inputs (drawn from [0, 100), which every type holds), globals and
 * consts through transpose, concat, slice, broadcast, reshape, casts and a
 * store, with a symbolic batch. */
static const char *int_io =
    "module ints\nsym B\n"
    "param @q : i8[5] = zeros\nstate @acc : i64[5] = zeros\n"
    "func forward(%a: i8[B,5], %b: u8[B,5], %c: i64[B,3]) -> (i8[5,B], u8[B,10], i64[B,2], i8[B,5], i8[B,5], "
    "i32[], u8[B,5], i32[5,B], i64[5,B]) {\n"
    "  %q = global @q : i8[5]\n"
    "  %at = transpose %a {perm=[1,0]} : i8[5,B]\n"
    "  %bb = concat %b, %b {axis=1} : u8[B,10]\n"
    "  %cs = slice %c {axis=1, start=1, end=3} : i64[B,2]\n"
    "  %qb = broadcast %q : i8[B,5]\n"
    "  %k = const {value=-7} : i8[]\n"
    "  %kb = broadcast %k : i8[B,5]\n"
    "  %big = const {value=-123456789} : i64[]\n"
    "  %w = cast %big : i32[]\n"
    "  %u = const {value=200} : u8[]\n"
    "  %ub = broadcast %u : u8[B,5]\n"
    "  %bs = cast %b : i8[B,5]\n"
    "  %bw = cast %bs : i64[B,5]\n"
    "  %bt = transpose %bw {perm=[1,0]} : i64[5,B]\n"
    "  %qw = cast %q : i64[5]\n"
    "  store @acc, %qw\n"
    "  %ab = cast %a : i32[B,5]\n"
    "  %ar = reshape %ab : i32[5,B]\n"
    "  return %at, %bb, %cs, %qb, %kb, %w, %ub, %ar, %bt\n}\n";

/* A scan whose sequence is i8, whose second carry is u8 and whose stacked
 * output is i64: every per-step stride and copy is in bytes of its type. */
static const char *int_scan =
    "module scan8\nsym B\n"
    "func cell(%h: f32[B,3], %c: u8[B,3], %x: i8[B,3]) -> (f32[B,3], u8[B,3], i64[B,3]) {\n"
    "  %xf = cast %x : f32[B,3]\n  %a = add %h, %xf : f32[B,3]\n"
    "  %cf = cast %c : f32[B,3]\n  %ca = add %cf, %xf : f32[B,3]\n  %cn = cast %ca : u8[B,3]\n"
    "  %o = cast %x : i64[B,3]\n  return %a, %cn, %o\n}\n"
    "func forward(%xs: i8[5,B,3], %c0: u8[B,3]) -> (f32[B,3], u8[B,3], i64[5,B,3]) {\n"
    "  %h0 = const {value=0.5} : f32[B,3]\n"
    "  %s = scan %h0, %c0, %xs {body=@cell, carries=2, seqs=1, reverse=0}\n"
    "  %hT = scan_out %s {result=0} : f32[B,3]\n  %cT = scan_out %s {result=1} : u8[B,3]\n"
    "  %ys = scan_out %s {result=2} : i64[5,B,3]\n  return %hT, %cT, %ys\n}\n";

void test_dtypes(void) {
  cast_pairs(256);         /* i8 and u8 saturate and wrap */
  cast_pairs(8589934592.); /* 2^33: i32 saturates */
  IrModule *m = t_parse(int_io);
  if (m) t_check3(m, (CheckOpts){.syms = {3}, .label_max = 100}, "integer inputs, globals and layout ops");
  m = t_parse(int_scan);
  if (m) t_check3(m, (CheckOpts){.syms = {3}, .label_max = 30}, "scan over i8 with a u8 carry and an i64 output");
}
