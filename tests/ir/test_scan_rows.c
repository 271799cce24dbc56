/* test_scan_rows.c — ir_scan_rows (ir/scan_rows.c): which scans may run on
 * blocks of batch rows. Each case is one body in IR text, run by a scan
 * with one carry h, one sequence x and the weight u; the body returns
 * (h', y). The CPU backend trusts a "yes" to split the loop over threads,
 * so every rule that mixes rows must say no. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_ir.h"

/* body: the lines between the signature and the return, h' and y the values
 * returned; u's and the sequence's types are given. */
static bool rows_of(const char *u_ty, const char *x_ty, const char *body, IrScanRows *out) {
  char text[4096];
  snprintf(text, sizeof text,
           "module m\nsym B\nparam @u : %s = zeros\n"
           "func cell(%%h: f32[B,4], %%x: %s, %%u: %s) -> (f32[B,4], f32[B,4]) {\n%s}\n"
           "func eval_step(%%xs: %.3s[5,%s) -> (f32[], f32[B,4]) {\n"
           "  %%u = global @u : %s\n  %%h0 = const {value=0} : f32[B,4]\n"
           "  %%s = scan %%h0, %%xs, %%u {body=@cell, carries=1, seqs=1, reverse=0}\n"
           "  %%hT = scan_out %%s {result=0} : f32[B,4]\n  %%l = sum %%hT {axes=[0,1], keepdims=0} : f32[]\n"
           "  return %%l, %%hT\n}\n",
           u_ty, x_ty, u_ty, body, x_ty, x_ty + 4, u_ty);
  Arena *a = arena_new();
  char *errs = NULL;
  IrModule *m = parse_str(a, text, &errs);
  bool ok = false;
  if (!CHECK(m != NULL)) {
    printf("  does not parse:\n%s%s\n", text, errs ? errs : "");
  } else {
    const IrFunc *f = ir_func_find(m, "eval_step");
    for (int i = 0; i < f->n; i++)
      if (f->nodes[i].op == OP_SCAN) ok = ir_scan_rows(m, &f->nodes[i], out);
  }
  free(errs);
  arena_free(a);
  return ok;
}

#define LSTMISH "  %m = matmul %h, %u {ta=0, tb=0} : f32[B,4]\n  %a = add %m, %x : f32[B,4]\n"

void test_scan_rows(void) {
  IrScanRows r;
  /* A cell: h' = tanh(h u + x). Every row on its own. */
  CHECK(rows_of("f32[4,4]", "f32[B,4]", LSTMISH "  %n = tanh %a : f32[B,4]\n  return %n, %n\n", &r));
  CHECK(r.row[0] && r.row[1] && !r.row[2]);
  CHECK(r.sym == 0);
  /* Slices, concats and reductions along axis 1, a shared weight's transpose,
   * softmax over the features: still row by row. */
  CHECK(rows_of("f32[4,4]", "f32[B,4]",
                LSTMISH "  %ut = transpose %u {perm=[1,0]} : f32[4,4]\n"
                        "  %m2 = matmul %a, %ut {ta=0, tb=0} : f32[B,4]\n"
                        "  %p = slice %m2 {axis=1, start=0, end=2} : f32[B,2]\n"
                        "  %q = slice %m2 {axis=1, start=2, end=4} : f32[B,2]\n"
                        "  %c = concat %q, %p {axis=1} : f32[B,4]\n"
                        "  %s = softmax %c {axis=1} : f32[B,4]\n"
                        "  %t = sum %s {axes=[1], keepdims=1} : f32[B,1]\n"
                        "  %n = mul %s, %t : f32[B,4]\n  return %n, %n\n",
                &r));
  /* A weight gradient h^T . a sums over the batch: rows mix. */
  CHECK(!rows_of("f32[4,4]", "f32[B,4]",
                 LSTMISH "  %g = matmul %h, %a {ta=1, tb=0} : f32[4,4]\n"
                         "  %n = matmul %a, %g {ta=0, tb=0} : f32[B,4]\n  return %n, %n\n",
                 &r));
  /* A mean over the batch axis mixes rows. */
  CHECK(!rows_of("f32[4,4]", "f32[B,4]",
                 LSTMISH "  %mu = mean %a {axes=[0], keepdims=1} : f32[1,4]\n"
                         "  %n = sub %a, %mu : f32[B,4]\n  return %n, %n\n",
                 &r));
  /* Softmax across the batch mixes rows. */
  CHECK(!rows_of("f32[4,4]", "f32[B,4]", LSTMISH "  %n = softmax %a {axis=0} : f32[B,4]\n  return %n, %n\n", &r));
  /* The batch size as a value (dim of axis 0) changes with the block. */
  CHECK(!rows_of("f32[4,4]", "f32[B,4]",
                 LSTMISH "  %d = dim %a {axis=0} : f32[]\n  %n = div %a, %d : f32[B,4]\n  return %n, %n\n", &r));
  /* Dropout's mask follows the flat element index: a block would draw
   * other bits. */
  CHECK(!rows_of("f32[4,4]", "f32[B,4]",
                 LSTMISH "  %k = const {value=0} : i32[2]\n  %t = const {value=0} : f32[]\n"
                         "  %n = dropout %a, %k, %t {value=0.5, salt=1} : f32[B,4]\n  return %n, %n\n",
                 &r));
  /* A zero state of the batch's shape made inside the body: the same in
   * every row. */
  CHECK(rows_of("f32[4,4]", "f32[B,4]",
                LSTMISH "  %z = const {value=0} : f32[B,4]\n  %n = add %a, %z : f32[B,4]\n  return %n, %n\n", &r));
  /* An embedding inside the body keeps rows apart, but an id out of range
   * names its row in the error: a block's row would be the wrong one. */
  CHECK(!rows_of("f32[4,4]", "i32[B,1]",
                 "  %e = embedding %x, %u : f32[B,1,4]\n  %r = reshape %e : f32[B,4]\n"
                 "  %n = add %r, %h : f32[B,4]\n  return %n, %n\n",
                 &r));
  /* A sequence without the batch axis is read whole by every block. */
  CHECK(rows_of("f32[4,4]", "f32[1,4]", LSTMISH "  %n = tanh %a : f32[B,4]\n  return %n, %n\n", &r));
  CHECK(r.row[0] && !r.row[1] && !r.row[2]);
}
