/* scan.c — the typing of structured loops: scan and scan_out (docs/ir.md,
 * "Scan").
 *
 *   %s = scan %c1..%ck, %x1..%xm, %p1..%pn {body=@F, carries=k, seqs=m, reverse=r} : void
 *
 * runs F once per step t along axis 0 of the sequences x (T steps, from the
 * end when reverse): F(c1..ck, x1[t]..xm[t], p1..pn) -> (c1'..ck', y1..yj).
 * The carries c' feed the next step; the outputs y of step t are stacked at
 * index t (in sequence order, also when reversed). The results are read by
 * `scan_out %s {result=i}`: i < k is the final carry i, k + j the stacked
 * output y_j, f32[T, ...]. One loop in the IR however long the sequence: the
 * body is a function of its own, typed once.
 *
 * A body is a plain function of its inputs: it reads no globals, stores
 * nothing and runs no scan (so it can be compiled, run and differentiated
 * as a unit, and the printer can put bodies before their users). */
#include <string.h>

#include "ir.h"

const IrFunc *ir_scan_body(const IrModule *m, const Attrs *at) { return at->body ? ir_func_find(m, at->body) : NULL; }

/* The type of input k of f (INPUT nodes are in index order). */
static const Type *input_type(const IrFunc *f, int k) {
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].op == OP_INPUT && f->nodes[i].at.index == k) return &f->nodes[i].ty;
  return NULL;
}

static int count_inputs(const IrFunc *f) {
  int n = 0;
  for (int i = 0; i < f->n; i++) n += f->nodes[i].op == OP_INPUT;
  return n;
}

/* Type t with a leading axis of size len. */
static bool stacked(Type t, int64_t len, Type *out) {
  if (t.sh.rank >= IR_MAX_RANK) return false;
  memmove(t.sh.d + 1, t.sh.d, sizeof(int64_t) * (size_t)t.sh.rank);
  t.sh.d[0] = len;
  t.sh.rank++;
  *out = t;
  return true;
}

bool shape_scan(const IrModule *m, const Type *in, int nin, const Attrs *at, Type *out, char *err, size_t errlen) {
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  const IrFunc *body = ir_scan_body(m, at);
  if (!body) return ir_shape_fail(err, errlen, "scan: no function @%s for its body", at->body ? at->body : "?");
  static const char *const runtime_fns[] = {IR_FN_FORWARD, IR_FN_EVAL, IR_FN_TRAIN, IR_FN_LOSS};
  for (size_t i = 0; i < sizeof runtime_fns / sizeof *runtime_fns; i++)
    if (!strcmp(body->name, runtime_fns[i]))
      return ir_shape_fail(err, errlen, "scan: @%s is a function the runtime calls, not a body", body->name);
  int k = at->ncarry, s = at->nseq;
  if (k < 0 || s < 1 || k + s > nin)
    return ir_shape_fail(err, errlen, "scan: %d carries and %d sequences (at least 1) do not fit its %d operands", k, s, nin);
  if (count_inputs(body) != nin)
    return ir_shape_fail(err, errlen, "scan: body @%s takes %d inputs, the scan passes %d", body->name, count_inputs(body), nin);
  for (int i = 0; i < body->n; i++) {
    OpKind op = body->nodes[i].op;
    if (op == OP_GLOBAL || op == OP_STORE || op == OP_SCAN)
      return ir_shape_fail(err, errlen, "scan: body @%s has a %s; a body only computes from its inputs", body->name,
                  ir_ops[op].mnemonic);
  }
  int64_t len = 0;
  for (int a = 0; a < nin; a++) {
    Type want = in[a];
    if (a >= k && a < k + s) { /* a sequence: the body sees one step */
      if (in[a].sh.rank < 1) return ir_shape_fail(err, errlen, "scan: sequence %d is a scalar", a - k);
      if (a == k) len = in[a].sh.d[0];
      if (in[a].sh.d[0] != len) return ir_shape_fail(err, errlen, "scan: the sequences differ in length along axis 0");
      want.sh.rank--;
      memmove(want.sh.d, want.sh.d + 1, sizeof(int64_t) * (size_t)want.sh.rank);
    }
    const Type *got = input_type(body, a);
    if (!got || !ir_type_eq(got, &want))
      return ir_shape_fail(err, errlen, "scan: body input %d is %s, the scan passes %s", a, got ? ir_type_str(m, got, b1, sizeof b1) : "?",
                  ir_type_str(m, &want, b2, sizeof b2));
  }
  if (body->nrets < k) return ir_shape_fail(err, errlen, "scan: body @%s returns %d values, fewer than its %d carries", body->name, body->nrets, k);
  for (int c = 0; c < body->nrets; c++) {
    const Type *r = &body->nodes[body->rets[c]].ty;
    if (c < k && !ir_type_eq(r, &in[c]))
      return ir_shape_fail(err, errlen, "scan: body result %d is %s, but carry %d is %s", c, ir_type_str(m, r, b1, sizeof b1), c,
                  ir_type_str(m, &in[c], b2, sizeof b2));
    Type st;
    if (c >= k && !stacked(*r, len, &st)) return ir_shape_fail(err, errlen, "scan: output %d has no room for the step axis", c - k);
  }
  *out = (Type){.dt = DT_VOID};
  return true;
}

/* The type comes from the scan node (ir_scan_result_type); this only checks
 * what the operand types can tell. */
bool shape_scan_out(const IrModule *m, const Type *in, int nin, const Attrs *at, Type *out, char *err, size_t errlen) {
  (void)m, (void)nin, (void)at, (void)out;
  if (in[0].dt != DT_VOID || in[0].sh.rank != 0) return ir_shape_fail(err, errlen, "scan_out reads the results of a scan");
  return true;
}

int ir_scan_nresults(const IrModule *m, const IrNode *scan) {
  const IrFunc *body = ir_scan_body(m, &scan->at);
  return body ? body->nrets : 0;
}

bool ir_scan_result_type(const IrFunc *f, int scan, int result, Type *out, char *err, size_t errlen) {
  if (scan < 0 || scan >= f->n || f->nodes[scan].op != OP_SCAN) return ir_shape_fail(err, errlen, "scan_out reads the results of a scan");
  const IrNode *s = &f->nodes[scan];
  const IrFunc *body = ir_scan_body(f->mod, &s->at);
  if (!body) return ir_shape_fail(err, errlen, "scan: no function @%s for its body", s->at.body ? s->at.body : "?");
  if (result < 0 || result >= body->nrets)
    return ir_shape_fail(err, errlen, "scan_out: result %d of a scan with %d results", result, body->nrets);
  if (result < s->at.ncarry) {
    *out = f->nodes[s->args[result]].ty;
    return true;
  }
  int64_t len = f->nodes[s->args[s->at.ncarry]].ty.sh.d[0];
  if (!stacked(body->nodes[body->rets[result]].ty, len, out))
    return ir_shape_fail(err, errlen, "scan_out: output %d has no room for the step axis", result);
  return true;
}

bool ir_func_is_scan_body(const IrModule *m, const IrFunc *f) {
  for (int i = 0; i < m->nfuncs; i++)
    for (int j = 0; j < m->funcs[i]->n; j++) {
      const IrNode *n = &m->funcs[i]->nodes[j];
      if (n->op == OP_SCAN && n->at.body && !strcmp(n->at.body, f->name)) return true;
    }
  return false;
}
