/* test_ir_errors.c — the IR's error paths: the verifier rejects
 * hand-broken IR with a message naming the function and the value,
 * attrs.def's rows agree with ops.def, and parse errors point at the right
 * line:col with the source line and a caret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_ir.h"
/* ---- the verifier ---- */

/* A small valid function to break by hand:
 *   %x = input 0; %w = global @w; %mm = matmul; %r = relu; %s = sum; store @w; return %r */
typedef struct Small {
  Arena *a;
  IrModule *m;
  IrFunc *f;
  int x, w, mm, r, s, st;
} Small;

static Small small(void) {
  Small s = {.a = arena_new()};
  s.m = ir_module_new(s.a, "small");
  int64_t B = IR_SYM(ir_sym(s.m, "B"));
  global(s.m, "w", GLOBAL_PARAM, T(DT_F32, 2, D(3), D(2)), NNRT_INIT_ZEROS, 0, 0);
  s.f = ir_func_new(s.m, "f");
  s.x = ir_input(s.f, "x", T(DT_F32, 2, B, D(3)), L0);
  s.w = ir_global_ref(s.f, 0, L0);
  s.mm = emit(s.f, OP_MATMUL, (int[]){s.x, s.w}, 2, (Attrs){0}, NULL);
  s.r = ir_op1(s.f, OP_RELU, s.mm, L0);
  name(s.f, s.r, "r");
  s.s = reduce(s.f, OP_SUM, s.r, 1, 0);
  s.st = emit(s.f, OP_STORE, (int[]){ir_op1(s.f, OP_NEG, s.w, L0)}, 1, (Attrs){.name = "w"}, NULL);
  ir_ret(s.f, s.r);
  return s;
}

/* Runs the verifier on a broken Small; checks it fails with `want` in its
 * messages. */
static void expect_verify_error(Small *s, const char *want, int line) {
  Diag d;
  diag_capture(&d);
  bool ok = ir_verify(s->m, &d);
  char *msg = diag_text(&d);
  if (!check(!ok && strstr(msg, want), want, __FILE__, line)) fprintf(stderr, "  verifier said: %s", ok ? "ok\n" : msg);
  free(msg);
  arena_free(s->a);
}
#define EXPECT_VERIFY(s, want) expect_verify_error(&(s), want, __LINE__)

void test_verify(void) {
  Small s = small();
  Diag d;
  diag_capture(&d);
  CHECK(ir_verify(s.m, &d));
  free(diag_text(&d));
  arena_free(s.a);

  s = small(), s.f->nodes[s.r].ty = T(DT_F32, 2, IR_SYM(0), D(3));
  EXPECT_VERIFY(s, "nnc: error: verify: f: %r (relu): type is f32[B,3], but the operands give f32[B,2]");
  s = small(), s.f->nodes[s.mm].args[0] = s.r;
  EXPECT_VERIFY(s, "verify: f: %2 (matmul): operand 0 (%r) is not defined before its use");
  s = small(), s.f->nodes[s.mm].args[1] = s.mm;
  EXPECT_VERIFY(s, "verify: f: %2 (matmul): operand 1 (%2) is not defined before its use");
  s = small(), s.f->nodes[s.r].nargs = 2;
  EXPECT_VERIFY(s, "verify: f: %r (relu): has 2 operands, the op takes 1");
  s = small(), s.f->nodes[s.w].at.name = "nope";
  EXPECT_VERIFY(s, "verify: f: %1 (global): unknown global @nope");
  s = small(), s.f->nodes[s.st].at.name = "nope";
  EXPECT_VERIFY(s, "(store): unknown global @nope");
  s = small(), s.f->rets[0] = 99;
  EXPECT_VERIFY(s, "verify: f: return value 0 (%99) is out of range");
  s = small(), s.f->rets[0] = s.st;
  EXPECT_VERIFY(s, "verify: f: return value 0 (%6) is a store, which has no result");
  s = small(), ir_op1(s.f, OP_NEG, s.x, L0), s.f->nodes[s.f->n - 1].args[0] = s.st;
  EXPECT_VERIFY(s, "verify: f: %7 (neg): operand 0 (%6) is a store, which has no result");
  s = small(), s.f->nodes[s.x].at.index = 1;
  EXPECT_VERIFY(s, "verify: f: %x (input): index 1, but it is input 0 in node order");
  s = small(), s.f->nodes[s.s].at.naxes = 9;
  EXPECT_VERIFY(s, "verify: f: %4 (sum): axes has 9 entries, not 0..6");
  s = small(), s.f->nodes[s.s].at.axes[0] = 2;
  EXPECT_VERIFY(s, "verify: f: %4 (sum): axis 2 is out of range for rank 2");
  s = small(), s.f->nodes[s.mm].at.tb = 7;
  EXPECT_VERIFY(s, "verify: f: %2 (matmul): tb is 7, not in 0..1");
  s = small(), s.f->nodes[s.r].group = -2;
  EXPECT_VERIFY(s, "verify: f: %r (relu): group is -2, not in -1..2147483647");
  s = small(), s.f->nodes[s.x].group = 0;
  EXPECT_VERIFY(s, "verify: f: %x (input): an input cannot carry group");
  s = small(), s.f->nodes[s.mm].at.axis = 7; /* not matmul's: ignored */
  /* Valid groups: the store and the neg it stores in group 3, relu alone in 0. */
  s.f->nodes[s.st].group = 3, s.f->nodes[s.f->nodes[s.st].args[0]].group = 3, s.f->nodes[s.r].group = 0;
  Diag d1;
  diag_capture(&d1);
  CHECK(ir_verify(s.m, &d1));
  free(diag_text(&d1));
  arena_free(s.a);
  s = small(), s.f->nodes[s.r].op = (OpKind)999;
  EXPECT_VERIFY(s, "verify: f: %r: op 999 is unknown");
  s = small(), s.f->nodes[s.r].ty.sh.rank = 40;
  EXPECT_VERIFY(s, "verify: f: %r (relu): bad type: rank 40 is out of range (0..6)");
  s = small(), s.f->nodes[s.r].ty.sh.d[0] = IR_SYM(5);
  EXPECT_VERIFY(s, "verify: f: %r (relu): bad type: dimension 0 names no sym");
  s = small(), s.m->globals[0].ty = T(DT_F32, 2, D(2), D(3));
  EXPECT_VERIFY(s, "verify: f: %1 (global): global @w has type f32[2,3], not f32[3,2]");
  s = small(), global(s.m, "w", GLOBAL_STATE, T(DT_F32, 0), 0, 0, 0);
  EXPECT_VERIFY(s, "verify: global @w is declared twice");
  s = small(), global(s.m, "v", GLOBAL_STATE, T(DT_F32, 1, IR_SYM(0)), 0, 0, 0);
  EXPECT_VERIFY(s, "verify: global @v: dimension 0 is symbolic");
  s = small(), s.m->globals[0].ty.sh.d[0] = (int64_t)1 << 40;
  EXPECT_VERIFY(s, "verify: global @w: dimension 0 is too large");
  s = small(), s.m->train = (IrTrain){.present = true, .opt = (OptKind)5};
  EXPECT_VERIFY(s, "verify: train: optimizer 5 is unknown");
  s = small(), s.m->globals[0].init = 17;
  EXPECT_VERIFY(s, "verify: global @w: initialiser 17 is unknown");
  s = small(), s.m->globals[0].init = NNRT_INIT_SEED; /* a param, f32[3,2] */
  EXPECT_VERIFY(s, "verify: global @w: a seed is an i32[2] state global");
  s = small(), ir_func_new(s.m, "f");
  EXPECT_VERIFY(s, "verify: function 'f' is defined twice");
  s = small(), ir_func_new(s.m, "bad name");
  EXPECT_VERIFY(s, "verify: function 1: name 'bad name' is not an identifier");
  s = small();
  Type wrong = T(DT_F32, 1, D(5));
  s.f->nodes[s.f->n - 1] = (IrNode){.op = OP_RESHAPE, .nargs = 1, .args = {s.r}, .ty = wrong}; /* replaces the store */
  EXPECT_VERIFY(s, "verify: f: %6 (reshape): cannot reshape f32[B,2] to f32[5]: element counts differ");
  s = small(), s.f->nodes[s.r].ty.dt = (DType)42;
  EXPECT_VERIFY(s, "verify: f: %r (relu): bad type: element type 42 is unknown");
  s = small(), s.f->nodes[s.x].ty.dt = DT_VOID;
  EXPECT_VERIFY(s, "verify: f: %x (input): bad type: void is no tensor type");
  s = small(), s.m->globals[0].ty.dt = (DType)-1;
  EXPECT_VERIFY(s, "verify: global @w: element type -1 is unknown");
  /* Integer types pass through layout ops and casts, not arithmetic. */
  s = small(), s.f->nodes[s.x].ty.dt = DT_I8;
  EXPECT_VERIFY(s, "verify: f: %2 (matmul): matmul expects two float tensors of one rank (2 or more), or one of rank 3 "
                   "or more and a 2-d one, got i8[B,3] and f32[3,2]");
  s = small();
  Type u8 = T(DT_U8, 2, IR_SYM(0), D(3));
  int c = emit(s.f, OP_CAST, (int[]){s.x}, 1, (Attrs){0}, &u8);
  ir_ret(s.f, c);
  Diag d3;
  diag_capture(&d3);
  CHECK(ir_verify(s.m, &d3)); /* every cast between tensor types is valid */
  free(diag_text(&d3));
  s.f->nodes[c].ty.sh.d[1] = 2;
  EXPECT_VERIFY(s, "(cast): cannot cast f32[B,3] to u8[B,2]");
  /* One bad node gives one message, not one per user. */
  s = small(), s.f->nodes[s.mm].ty = T(DT_I32, 0);
  Diag d2;
  diag_capture(&d2);
  CHECK(!ir_verify(s.m, &d2) && d2.nerrors == 1);
  free(diag_text(&d2));
  arena_free(s.a);
}

/* ---- the attribute table ---- */

/* attrs.def's rows agree with each other and with ops.def: a name in braces
 * means one attribute; annotations are ints no op lists; every kind some op
 * carries prints. And CSE's equality sees every attribute but the group. */
void test_attr_table(void) {
  unsigned used = 0;
  for (int op = 0; op < OP_COUNT; op++)
    used |= ir_ops[op].attrs;
  for (int k = 0; k < AK_COUNT; k++) {
    const AttrInfo *a = &ir_attrs[k];
    bool braces = a->place == AP_DICT || a->place == AP_NODE;
    for (int j = 0; j < k; j++)
      CHECK(!braces || (ir_attrs[j].place != AP_DICT && ir_attrs[j].place != AP_NODE) ||
            strcmp(a->text, ir_attrs[j].text));
    CHECK(a->place != AP_NODE || (a->value == AV_INT && !(used & (1u << k))));
    CHECK(a->place == AP_NODE || (used & (1u << k)));
    CHECK((a->value == AV_INTS) == (a->len_off != 0));
  }
  CHECK(A_TRANS == (A_TA | A_TB) && ir_ops[OP_MATMUL].attrs == A_TRANS);

  IrNode a = {.op = OP_MATMUL, .at = {.ta = 1}, .group = 0}, b = a;
  b.group = 5;
  CHECK(ir_attrs_eq(&a, &b) && ir_attrs_hash(&a) == ir_attrs_hash(&b));
  b.at.tb = 1;
  CHECK(!ir_attrs_eq(&a, &b));
  b = a, b.at.axis = 3; /* not matmul's */
  CHECK(ir_attrs_eq(&a, &b) && ir_attrs_hash(&a) == ir_attrs_hash(&b));
  IrNode c = {.op = OP_CONST, .at = {.value = 0.0}}, d = {.op = OP_CONST, .at = {.value = -0.0}};
  CHECK(!ir_attrs_eq(&c, &d));
  IrNode e = {.op = OP_SUM, .at = {.naxes = 2, .axes = {0, 1}}}, g = e;
  g.at.axes[2] = 9; /* past naxes: no part of the value */
  CHECK(ir_attrs_eq(&e, &g) && ir_attrs_hash(&e) == ir_attrs_hash(&g));
  g.at.naxes = 1;
  CHECK(!ir_attrs_eq(&e, &g));
}

/* ---- parse errors ---- */

#define HDR "module m\nsym B\nparam @w : f32[3,2] = zeros\nfunc f(%x: f32[B,3]) -> (f32[B,2]) {\n"

static void expect_parse_error(const char *text, const char *want, int line) {
  Arena *a = arena_new();
  char *errs;
  IrModule *m = parse_str(a, text, &errs);
  if (!check(!m && strstr(errs, want), want, __FILE__, line)) fprintf(stderr, "  parser said: %s", m ? "ok\n" : errs);
  free(errs);
  arena_free(a);
}
#define EXPECT_PARSE(text, want) expect_parse_error(text, want, __LINE__)

void test_parse_errors(void) {
  EXPECT_PARSE(HDR "  %1 = foo %x : f32[B,3]\n", "t.nnir:5:8: error: unknown op 'foo'");
  EXPECT_PARSE(HDR "  %y = add %x : f32[B,3]\n", "t.nnir:5:8: error: 'add' takes 2 operands, got 1");
  EXPECT_PARSE(HDR "  %y = relu %x, %x, %x, %x, %x : f32[B,3]\n", "5:8: error: 'relu' takes 1 operand, got 5");
  EXPECT_PARSE(HDR "  %y = relu %z : f32[B,3]\n", "t.nnir:5:13: error: use of undefined value %z");
  EXPECT_PARSE(HDR "  %x = relu %x : f32[B,3]\n", "t.nnir:5:3: error: redefinition of value %x");
  EXPECT_PARSE(HDR "  %g = global @nope : f32[3,2]\n", "t.nnir:5:15: error: unknown global @nope");
  EXPECT_PARSE(HDR "  %y = relu %x : f64[B,3]\n", "t.nnir:5:18: error: unknown element type 'f64'");
  EXPECT_PARSE(HDR "  %y = relu %x : f32[T,3]\n", "t.nnir:5:22: error: unknown symbolic dim 'T'");
  EXPECT_PARSE(HDR "  %y = relu %x : f32[B,0]\n", "t.nnir:5:24: error: a dimension must be between 1 and");
  EXPECT_PARSE(HDR "  %y = relu %x : f32[1,1,1,1,1,1,1]\n", "t.nnir:5:34: error: a type has at most 6 dimensions");
  EXPECT_PARSE(HDR "  %y = sum %x {axes=[1], keepdim=0} : f32[B]\n", "t.nnir:5:26: error: unknown attribute 'keepdim'");
  EXPECT_PARSE(HDR "  %y = sum %x {axes=[1]} : f32[B]\n", "t.nnir:5:8: error: 'sum' needs attribute 'keepdims'");
  EXPECT_PARSE(HDR "  %y = sum %x {axes=[1], axes=[1]} : f32[B]\n", "5:26: error: attribute 'axes' is given twice");
  EXPECT_PARSE(HDR "  %y = sum %x {axes=[1], keepdims=2} : f32[B]\n", "5:35: error: keepdims must be between 0 and 1");
  EXPECT_PARSE(HDR "  %y = sum %x {axes=[1] keepdims=0} : f32[B]\n",
               "5:25: error: expected ',' or '}', got 'keepdims'");
  EXPECT_PARSE(HDR "  %y = relu %x {axis=1} : f32[B,3]\n", "t.nnir:5:17: error: 'relu' has no attribute 'axis'");
  EXPECT_PARSE(HDR "  %y = relu %x {group=2, axis=1} : f32[B,3]\n", "5:26: error: 'relu' has no attribute 'axis'");
  EXPECT_PARSE(HDR "  %y = relu %x {group=-1} : f32[B,3]\n", "5:23: error: group must be between 0 and 2147483647");
  EXPECT_PARSE(HDR "  %y = relu %x : f32[B,2]\n",
               "t.nnir:5:18: error: type mismatch: relu gives f32[B,3], not the declared f32[B,2]");
  EXPECT_PARSE(HDR "  %w = global @w : f32[3,2]\n  %y = add %x, %w : f32[B,3]\n",
               "t.nnir:6:8: error: shapes cannot broadcast: dimension B against 3 (f32[B,3] and f32[3,2])");
  EXPECT_PARSE(HDR "  %w = global @w : f32[2,3]\n", "t.nnir:5:8: error: global @w has type f32[3,2], not f32[2,3]");
  EXPECT_PARSE(HDR "  %r = reshape %x : f32[7]\n", "5:8: error: cannot reshape f32[B,3] to f32[7]");
  EXPECT_PARSE(HDR "  %5 = relu %x : f32[B,3]\n", "t.nnir:5:3: error: value %5 is out of order");
  EXPECT_PARSE(HDR "  return %x\n}\n", "t.nnir:5:10: error: return value 0 has type f32[B,3], but the signature says");
  EXPECT_PARSE(HDR "  return\n}\n", "t.nnir:5:3: error: 'f' returns 0 values, but its signature declares 1");
  EXPECT_PARSE(HDR "  %y = relu %x ; f32[B,3]\n", "t.nnir:5:16: error: unexpected character ';'");
  EXPECT_PARSE(HDR "  %y = relu %x \x01 f32[B,3]\n", "t.nnir:5:16: error: unexpected byte 0x01");
  EXPECT_PARSE(HDR "  %s = store @w, %x\n", "t.nnir:5:8: error: store has no result");
  EXPECT_PARSE(HDR "  %i = input : f32[]\n", "t.nnir:5:8: error: inputs are declared in the function signature");
  EXPECT_PARSE(HDR "  relu %x : f32[B,3]\n", "t.nnir:5:3: error: the result of 'relu' needs a name");
  EXPECT_PARSE(HDR "  store @w, %x\n", "t.nnir:5:3: error: cannot store f32[B,3] into @w of type f32[3,2]");
  EXPECT_PARSE(HDR, "t.nnir:5:1: error: expected a statement ('%v = op ...', 'store' or 'return'), got end of file");
  EXPECT_PARSE(HDR "  %y = pow %x {value=1e} : f32[B,3]\n", "t.nnir:5:22: error: malformed number '1e'");
  EXPECT_PARSE(HDR "  %y = relu % : f32[B,3]\n", "t.nnir:5:13: error: expected a name after '%'");
  EXPECT_PARSE("func f() -> () {\n", "t.nnir:1:1: error: expected 'module NAME' at the start, got 'func'");
  EXPECT_PARSE("", "t.nnir:1:1: error: expected 'module NAME' at the start, got end of file");
  EXPECT_PARSE("module m\nparam @v : f32[B] = zeros\n", "t.nnir:2:16: error: unknown symbolic dim 'B'");
  EXPECT_PARSE("module m\nsym B\nparam @v : f32[B] = zeros\n", "t.nnir:3:16: error: globals have static shapes");
  EXPECT_PARSE("module m\nparam @v : f32[2] = normal(0)\n", "t.nnir:2:21: error: normal takes 2 arguments, got 1");
  EXPECT_PARSE("module m\nparam @v : f32[2] = zeros\nstate @v : f32[] = ones\n",
               "t.nnir:3:7: error: global @v is declared twice");
  EXPECT_PARSE("module m\ntrain {lr=0.1, speed=2}\n", "t.nnir:2:16: error: unknown train setting 'speed'");
  EXPECT_PARSE("module m\ntrain {optimizer=adagrad}\n", "t.nnir:2:18: error: unknown optimizer 'adagrad'");
  EXPECT_PARSE("module m\ntrain {data=\"abc}\n", "t.nnir:2:13: error: unterminated string");
  EXPECT_PARSE("module m\ntrain {seed=-1}\n", "t.nnir:2:13: error: seed must be an integer from 0 to 2^64-1");
  /* An integer constant is an integer in its type's range (the shape rule,
   * so the verifier and every builder check it too). */
  EXPECT_PARSE(HDR "  %k = const {value=0.5} : i32[2]\n",
               "t.nnir:5:8: error: an integer constant (i32) needs an integer value in its range, got 0.5");
  EXPECT_PARSE(HDR "  %k = const {value=4294967296} : i32[]\n", "5:8: error: an integer constant (i32) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=nan} : i32[]\n", "5:8: error: an integer constant (i32) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=128} : i8[]\n", "5:8: error: an integer constant (i8) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=-1} : u8[]\n", "5:8: error: an integer constant (u8) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=9223372036854775808} : i64[]\n",
               "5:8: error: an integer constant (i64) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=inf} : i64[]\n", "5:8: error: an integer constant (i64) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=1} : void[]\n", "5:26: error: unknown element type 'void'");
  EXPECT_PARSE(HDR "  %k = const {value=1} : u16[]\n",
               "5:26: error: unknown element type 'u16' (expected f32, i32, i8, u8 or i64)");
  EXPECT_PARSE("module m\nfunc f() -> () {\n  return\n}\nfunc f() -> () {\n",
               "t.nnir:5:6: error: function 'f' is defined twice");
  /* The caret line shows the culprit. */
  EXPECT_PARSE(HDR "  %y = relu %z : f32[B,3]\n", "  %y = relu %z : f32[B,3]\n              ^\n");
}
