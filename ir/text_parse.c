/* text_parse.c — the IR text parser (docs/ir.md, "Text format").
 *
 * Recursive descent over the tokens of text_lex.c; each parse function
 * carries its grammar rule above it. The parser builds nodes with ir_emit,
 * so the shape rules check every line: a typed op (const, reshape...) gets
 * its declared type checked, any other op gets its type derived and compared
 * with the declared one.
 *
 * Errors are the user's (the file is input): the first one is reported
 * with file:line:col and the parse unwinds with longjmp (irt_error), so no
 * error path has to be threaded through the descent. Nothing here may crash
 * on any input: lists are bounded, numbers are range-checked as they are
 * read, and every call into ir_emit has first been checked to satisfy its
 * preconditions (operand count, operands in range, a type for typed ops).
 *
 * Where inputs go. The printer shows INPUT nodes only in the signature, and
 * an unnamed value as %<node id>. So inputs are placed lazily: an input
 * becomes a node when it is first used, when a numbered value needs the ids
 * in front of it filled, or at `return`. Named values do not show their ids,
 * so any placement that gives every numbered value its number prints the
 * same text, and that is what makes print -> parse -> print byte-identical
 * even for functions whose inputs are not all at the front (train_step's lr,
 * added by autodiff after the forward pass). At the end of the function the
 * inputs move back up as far as the numbered values allow (hoist_inputs). */
#include <stddef.h>
#include <string.h>

#include "text.h"

/* Value numbers stay far below INT_MAX (and the node count any real module
 * reaches), so ids and their arithmetic never overflow. */
#define MAX_VALUE_ID 100000000

/* An input of the function being parsed, not yet placed as a node. */
typedef struct Pending {
  const char *key;  /* its key in the value table */
  const char *name; /* node name; NULL when it is numbered (%3) */
  int id;           /* the node id a numbered input must get, else -1 */
  Type ty;
  Loc loc;
} Pending;

typedef struct Parser {
  IrLexer lx; /* the text, the current token, the error exit (text.h) */
  IrModule *m;
  /* The function being parsed: values by name (a node id, or -2 - k for
   * pending input k), and its inputs. */
  IrFunc *f;
  const char **keys;
  int *vals;
  int cap, count;
  Pending *ins;
  int nins, placed;
} Parser;

/* ---- types ---- */

/* type = dtype "[" (dim ("," dim)*)? "]"
 * dtype = "f32" | "i32" | "i8" | "u8" | "i64"   (runtime/nnrt_dtypes.def)
 * dim  = int | sym-name */
static Type parse_type(Parser *P, bool allow_sym) {
  Type ty = {0};
  IrTok t = P->lx.tok;
  if (t.kind != TK_IDENT) irt_expected(&P->lx, "a type like f32[2,3]");
  char list[IR_DTYPE_LISTLEN];
  if (!ir_dtype_lookup(t.s, (size_t)t.len, &ty.dt))
    irt_error(&P->lx, t.loc, "unknown element type '%.*s' (expected %s)", t.len > 40 ? 40 : t.len, t.s,
              ir_dtype_list(list, sizeof list));
  irt_lex(&P->lx);
  irt_expect(&P->lx, "[");
  int64_t numel = 1;
  while (!irt_is(&P->lx, "]")) {
    if (ty.sh.rank && !irt_consume(&P->lx, ",")) irt_expected(&P->lx, "',' or ']'");
    IrTok dt = P->lx.tok;
    if (ty.sh.rank == IR_MAX_RANK) irt_error(&P->lx, dt.loc, "a type has at most %d dimensions", IR_MAX_RANK);
    int64_t d;
    if (dt.kind == TK_IDENT) {
      char *name = irt_tok_str(&P->lx, &dt);
      int k = ir_sym_find(P->m, name);
      if (k < 0) irt_error(&P->lx, dt.loc, "unknown symbolic dim '%s' (declare it with 'sym %s')", name, name);
      if (!allow_sym) irt_error(&P->lx, dt.loc, "globals have static shapes; '%s' is symbolic", name);
      d = IR_SYM(k);
      irt_lex(&P->lx);
    } else {
      d = irt_int(&P->lx, 1, IR_MAX_DIM, "a dimension");
      numel *= d;
      if (numel > IR_MAX_NUMEL) irt_error(&P->lx, dt.loc, "tensor has too many elements");
    }
    ty.sh.d[ty.sh.rank++] = d;
  }
  irt_lex(&P->lx);
  return ty;
}

static const char *type_str(Parser *P, const Type *t, char *buf) { return ir_type_str(P->m, t, buf, IR_TYPE_STRLEN); }

/* ---- the value table of one function ---- */

/* The slot of key s, or the empty slot (keys[i] == NULL) where it would go. */
static int val_slot(const Parser *P, const char *s) {
  size_t i = ir_hash_str(s) & (size_t)(P->cap - 1);
  while (P->keys[i] && strcmp(P->keys[i], s))
    i = (i + 1) & (size_t)(P->cap - 1);
  return (int)i;
}

static void val_set(Parser *P, const char *key, int v) {
  if (2 * (P->count + 1) > P->cap) { /* rehash into a table twice the size */
    const char **ok = P->keys;
    int *ov = P->vals, ocap = P->cap;
    P->cap = ocap ? 2 * ocap : 64;
    P->keys = arena_alloc(P->lx.arena, sizeof *P->keys * (size_t)P->cap);
    P->vals = arena_alloc(P->lx.arena, sizeof *P->vals * (size_t)P->cap);
    for (int i = 0; i < ocap; i++)
      if (ok[i]) {
        int j = val_slot(P, ok[i]);
        P->keys[j] = ok[i];
        P->vals[j] = ov[i];
      }
  }
  int i = val_slot(P, key);
  if (!P->keys[i]) P->count++;
  P->keys[i] = key;
  P->vals[i] = v;
}

/* Returns true and the value of a defined name. */
static bool val_get(const Parser *P, const char *key, int *v) {
  if (!P->cap) return false;
  int i = val_slot(P, key);
  if (P->keys[i]) *v = P->vals[i];
  return P->keys[i] != NULL;
}

/* The table key of a value token; *num gets its number for %<digits>, else -1.
 * Numbers are keyed in canonical form so that %07 and %7 are one value. */
static const char *val_key(Parser *P, const IrTok *t, int *num) {
  bool numeric = true;
  for (int i = 0; i < t->len && numeric; i++)
    numeric = irt_digit(t->s[i]);
  *num = -1;
  if (!numeric) return irt_tok_str(&P->lx, t);
  long long n = 0;
  for (int i = 0; i < t->len; i++) {
    n = n * 10 + (t->s[i] - '0');
    if (n > MAX_VALUE_ID)
      irt_error(&P->lx, t->loc, "value number %%%.*s is too large", t->len > 40 ? 40 : t->len, t->s);
  }
  *num = (int)n;
  return arena_printf(P->lx.arena, "%d", *num);
}

/* ---- placing inputs (see the top of the file) ---- */

static void place_one(Parser *P) {
  Pending *in = &P->ins[P->placed];
  if (in->id >= 0 && in->id != P->f->n)
    irt_error(&P->lx, in->loc, "input %%%d is out of order: it would be value %%%d here", in->id, P->f->n);
  Attrs at = {.index = P->placed};
  int v = ir_emit(P->f, OP_INPUT, NULL, 0, &at, &in->ty, in->loc, P->lx.d);
  if (v < 0) longjmp(P->lx.fail, 1);
  P->f->nodes[v].name = in->name;
  val_set(P, in->key, v);
  P->placed++;
}

/* Places a numbered input (and the named ones before it) once the nodes so
 * far reach its number; called before every statement. */
static void sync_inputs(Parser *P) {
  for (;;) {
    int j = P->placed;
    while (j < P->nins && P->ins[j].id < 0)
      j++;
    if (j == P->nins || P->f->n + (j - P->placed) < P->ins[j].id) return;
    while (P->placed <= j)
      place_one(P);
  }
}

/* value = "%" name   (a use: places a pending input) */
static int parse_use(Parser *P) {
  IrTok t = irt_take(&P->lx, TK_VALUE, "a value like %x");
  int num, v;
  const char *key = val_key(P, &t, &num);
  if (!val_get(P, key, &v)) irt_error(&P->lx, t.loc, "use of undefined value %%%s", key);
  if (v <= -2) {
    while (P->placed <= -2 - v)
      place_one(P);
    val_get(P, key, &v);
  }
  return v;
}

/* ---- attributes ---- */

/* What a value of each kind looks like, for "expected ..." messages. */
static const char *const value_what[] = {[AV_INT] = "an integer",
                                         [AV_REAL] = "a number",
                                         [AV_INTS] = "a list like [0,1]",
                                         [AV_FUNC] = "a function like @cell",
                                         [AV_GLOBAL] = "a global like @w"};

/* Whether the current token starts a value of kind v, so that a value of
 * the wrong kind is reported as such before the reader of v meets it. */
static bool starts_value(const Parser *P, AttrValue v) {
  const IrTok *t = &P->lx.tok;
  switch (v) {
  case AV_INT: /* [-]digits: irt_int's own words would not name the kind */
    for (int i = 0; t->kind == TK_NUM && i < t->len; i++)
      if (!irt_digit(t->s[i]) && !(i == 0 && t->s[i] == '-' && t->len > 1)) return false;
    return t->kind == TK_NUM;
  case AV_REAL: /* irt_number reports what else is wrong */
    return t->kind == TK_NUM || t->kind == TK_IDENT;
  case AV_INTS:
    return irt_is(&P->lx, "[");
  case AV_FUNC:
  case AV_GLOBAL:
    return t->kind == TK_GLOBAL;
  }
  return false;
}

/* value = int | number | "[" (int ("," int)*)? "]" | "@" name
 * Reads the value of attribute k into n, by its kind of value (attrs.def). */
static void parse_attr_value(Parser *P, IrNode *n, AttrKind k) {
  const AttrInfo *a = &ir_attrs[k];
  void *field = (char *)n + a->off;
  switch (a->value) {
  case AV_INT:
    *(int *)field = (int)irt_int(&P->lx, 0, a->max, a->text);
    break;
  case AV_REAL:
    *(double *)field = irt_number(&P->lx);
    break;
  case AV_INTS: {
    int *len = (int *)((char *)n + a->len_off), *v = field;
    irt_expect(&P->lx, "[");
    for (*len = 0; !irt_consume(&P->lx, "]");) {
      if (*len && !irt_consume(&P->lx, ",")) irt_expected(&P->lx, "',' or ']'");
      if (*len == IR_MAX_RANK) irt_error(&P->lx, P->lx.tok.loc, "%s has at most %d entries", a->text, IR_MAX_RANK);
      v[(*len)++] = (int)irt_int(&P->lx, 0, a->max, a->text);
    }
    break;
  }
  case AV_FUNC: {
    IrTok t = irt_take(&P->lx, TK_GLOBAL, value_what[AV_FUNC]);
    const char *name = *(const char **)field = irt_tok_str(&P->lx, &t);
    if (!ir_func_find(P->m, name))
      irt_error(&P->lx, t.loc, "unknown function @%s (a scan's body comes before the scan)", name);
    break;
  }
  case AV_GLOBAL: {
    IrTok t = irt_take(&P->lx, TK_GLOBAL, value_what[AV_GLOBAL]);
    const char *name = *(const char **)field = irt_tok_str(&P->lx, &t);
    if (ir_global_find(P->m, name) < 0) irt_error(&P->lx, t.loc, "unknown global @%s", name);
    break;
  }
  }
}

/* Node annotations (attrs.def's AP_NODE rows, ints) live outside Attrs, so
 * ir_emit does not take them: a statement's attributes are read into a
 * blank node, where they start unset, and the annotations are copied onto
 * the node ir_emit made. */
static IrNode blank_node(OpKind op) {
  IrNode n = {.op = op};
  for (int k = 0; k < AK_COUNT; k++)
    if (ir_attrs[k].place == AP_NODE) *(int *)((char *)&n + ir_attrs[k].off) = -1;
  return n;
}

static void copy_annotations(IrNode *dst, const IrNode *src) {
  for (int k = 0; k < AK_COUNT; k++)
    if (ir_attrs[k].place == AP_NODE)
      memcpy((char *)dst + ir_attrs[k].off, (const char *)src + ir_attrs[k].off, sizeof(int));
}

/* attrs = "{" (attr ("," attr)*)? "}"
 * attr  = name "=" value
 * The names are those of attrs.def's AP_DICT rows, which the op must carry
 * (all of them), and of its AP_NODE rows, which any op may carry. */
static void parse_attrs(Parser *P, IrNode *n, Loc op_loc) {
  bool seen[AK_COUNT] = {false};
  const char *mn = ir_ops[n->op].mnemonic;
  if (irt_consume(&P->lx, "{") && !irt_consume(&P->lx, "}")) {
    do {
      IrTok t = irt_take(&P->lx, TK_IDENT, "an attribute name");
      int k = 0;
      while (k < AK_COUNT &&
             !((ir_attrs[k].place == AP_DICT || ir_attrs[k].place == AP_NODE) && irt_tok_eq(&t, ir_attrs[k].text)))
        k++;
      if (k == AK_COUNT) irt_error(&P->lx, t.loc, "unknown attribute '%.*s'", t.len > 40 ? 40 : t.len, t.s);
      if (ir_attrs[k].place == AP_DICT && !(ir_ops[n->op].attrs & (1u << k)))
        irt_error(&P->lx, t.loc, "'%s' has no attribute '%s'", mn, ir_attrs[k].text);
      if (seen[k]) irt_error(&P->lx, t.loc, "attribute '%s' is given twice", ir_attrs[k].text);
      seen[k] = true;
      irt_expect(&P->lx, "=");
      if (!starts_value(P, ir_attrs[k].value)) {
        char what[80];
        snprintf(what, sizeof what, "%s for '%s'", value_what[ir_attrs[k].value], ir_attrs[k].text);
        irt_expected(&P->lx, what);
      }
      parse_attr_value(P, n, (AttrKind)k);
    } while (irt_consume(&P->lx, ","));
    if (!irt_consume(&P->lx, "}")) irt_expected(&P->lx, "',' or '}'");
  }
  for (int k = 0; k < AK_COUNT; k++)
    if (ir_attrs[k].place == AP_DICT && (ir_ops[n->op].attrs & (1u << k)) && !seen[k])
      irt_error(&P->lx, op_loc, "'%s' needs attribute '%s' (all of an op's attributes are written)", mn,
                ir_attrs[k].text);
}

/* ---- statements ---- */

/* operands = ("@" name ","?)? (value ("," value)*)?
 * The "@" name is the op's AP_OPERAND attribute (attrs.def), read into nd.
 * Reads up to IR_MAX_ARGS operands and counts the rest, for the message. */
static int parse_operands(Parser *P, IrNode *nd, int *args) {
  bool named = false;
  for (int k = 0; k < AK_COUNT; k++)
    if (ir_attrs[k].place == AP_OPERAND && ir_attr_on(nd, (AttrKind)k)) {
      parse_attr_value(P, nd, (AttrKind)k);
      named = true;
    }
  if (named ? !irt_consume(&P->lx, ",") : P->lx.tok.kind != TK_VALUE) return 0;
  int n = 0;
  do {
    int v = parse_use(P);
    if (n < IR_MAX_ARGS) args[n] = v;
    n++;
  } while (irt_consume(&P->lx, ","));
  return n;
}

static void check_arity(Parser *P, OpKind op, int n, Loc loc) {
  int want = ir_ops[op].nargs;
  if (want == IR_VARIADIC) {
    if (n > IR_MAX_ARGS) irt_error(&P->lx, loc, "'%s' takes at most %d operands, got %d", ir_ops[op].mnemonic, IR_MAX_ARGS, n);
    return;
  }
  if (n != want)
    irt_error(&P->lx, loc, "'%s' takes %d operand%s, got %d", ir_ops[op].mnemonic, want, want == 1 ? "" : "s", n);
}

/* def = "%" name "=" mnemonic operands attrs? (":" type)?   (no type: scan) */
static void parse_def(Parser *P) {
  IrTok name = irt_take(&P->lx, TK_VALUE, "a value");
  int num, prev;
  const char *key = val_key(P, &name, &num);
  if (val_get(P, key, &prev)) irt_error(&P->lx, name.loc, "redefinition of value %%%s", key);
  if (num >= 0) { /* a numbered value is node `num`: fill the ids before it with inputs */
    while (P->f->n < num && P->placed < P->nins)
      place_one(P);
    if (P->f->n != num)
      irt_error(&P->lx, name.loc, "value %%%d is out of order: unnamed values are numbered by position, this is %%%d",
                num, P->f->n);
  }
  irt_expect(&P->lx, "=");
  IrTok mt = irt_take(&P->lx, TK_IDENT, "an op name");
  char mbuf[32];
  snprintf(mbuf, sizeof mbuf, "%.*s", mt.len < 31 ? mt.len : 31, mt.s);
  OpKind op = mt.len < 31 ? ir_op_by_name(mbuf) : OP_COUNT;
  if (op == OP_COUNT) irt_error(&P->lx, mt.loc, "unknown op '%.*s'", mt.len > 40 ? 40 : mt.len, mt.s);
  if (op == OP_INPUT) irt_error(&P->lx, mt.loc, "inputs are declared in the function signature");
  if (op == OP_STORE) irt_error(&P->lx, mt.loc, "store has no result: write 'store @g, %%v'");
  int args[IR_MAX_ARGS];
  IrNode nd = blank_node(op);
  int n = parse_operands(P, &nd, args);
  check_arity(P, op, n, mt.loc);
  parse_attrs(P, &nd, mt.loc);
  Loc tloc = P->lx.tok.loc;
  Type decl = {.dt = DT_VOID}; /* a scan has no type of its own: its results are scan_outs */
  if (op != OP_SCAN) {
    irt_expect(&P->lx, ":");
    tloc = P->lx.tok.loc;
    decl = parse_type(P, true);
  }
  int v = ir_emit(P->f, op, args, n, &nd.at, &decl, mt.loc, P->lx.d);
  if (v < 0) longjmp(P->lx.fail, 1);
  copy_annotations(&P->f->nodes[v], &nd);
  /* Operands that were pending inputs were placed just now, after the gap
   * was filled: in printed text that cannot happen. */
  if (num >= 0 && v != num) irt_error(&P->lx, name.loc, "value %%%d is out of order: it would be %%%d", num, v);
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!ir_type_eq(&P->f->nodes[v].ty, &decl))
    irt_error(&P->lx, tloc, "type mismatch: %s gives %s, not the declared %s", ir_ops[op].mnemonic,
              type_str(P, &P->f->nodes[v].ty, b1), type_str(P, &decl, b2));
  if (num < 0) P->f->nodes[v].name = key;
  val_set(P, key, v);
}

/* store = "store" "@" name "," value attrs? */
static void parse_store(Parser *P) {
  Loc loc = P->lx.tok.loc;
  irt_lex(&P->lx);
  int args[IR_MAX_ARGS];
  IrNode nd = blank_node(OP_STORE);
  int n = parse_operands(P, &nd, args);
  check_arity(P, OP_STORE, n, loc);
  parse_attrs(P, &nd, loc);
  int v = ir_emit(P->f, OP_STORE, args, n, &nd.at, NULL, loc, P->lx.d);
  if (v < 0) longjmp(P->lx.fail, 1);
  copy_annotations(&P->f->nodes[v], &nd);
}

/* Lazy placement leaves an input as late as its first use; this moves each
 * named input back up past the named values and stores in front of it, so
 * that a parsed function has its inputs first wherever the text allows, as
 * the frontend builds them. It never moves an input past a numbered value
 * (the text fixes those ids) nor past another input (index order). Only
 * sources move up, so operands still precede their users. */
static void hoist_inputs(Parser *P) {
  IrFunc *f = P->f;
  int *order = arena_alloc(P->lx.arena, sizeof *order * (size_t)(f->n + 1));
  int *map = arena_alloc(P->lx.arena, sizeof *map * (size_t)(f->n + 1));
  int n = 0, anchor = 0; /* anchor: just after the last node that must stay */
  for (int i = 0; i < f->n; i++) {
    const IrNode *nd = &f->nodes[i];
    if (nd->op == OP_INPUT && nd->name) {
      memmove(order + anchor + 1, order + anchor, sizeof *order * (size_t)(n - anchor));
      order[anchor++] = i;
      n++;
    } else {
      order[n++] = i;
      if (!nd->name && nd->op != OP_STORE) anchor = n;
    }
  }
  IrNode *nodes = arena_alloc(P->lx.arena, sizeof *nodes * (size_t)(f->n + 1));
  for (int k = 0; k < n; k++)
    map[order[k]] = k;
  for (int k = 0; k < n; k++) {
    nodes[k] = f->nodes[order[k]];
    for (int a = 0; a < nodes[k].nargs; a++)
      nodes[k].args[a] = map[nodes[k].args[a]];
  }
  for (int r = 0; r < f->nrets; r++)
    f->rets[r] = map[f->rets[r]];
  f->nodes = nodes;
  f->cap = f->n + 1;
}

/* ---- functions ---- */

/* func   = "func" ident "(" (input ("," input)*)? ")" "->" "(" (type ("," type)*)? ")"
 *          "{" (def | store)* "return" (value ("," value)*)? "}"
 * input  = "%" name ":" type */
static void parse_func(Parser *P) {
  irt_lex(&P->lx);
  IrTok nt = irt_take(&P->lx, TK_IDENT, "a function name");
  char *fname = irt_tok_str(&P->lx, &nt);
  if (ir_func_find(P->m, fname)) irt_error(&P->lx, nt.loc, "function '%s' is defined twice", fname);
  P->f = ir_func_new(P->m, fname);
  P->keys = NULL, P->vals = NULL, P->cap = P->count = 0;
  P->ins = NULL, P->nins = P->placed = 0;
  int inscap = 0;
  irt_expect(&P->lx, "(");
  while (!irt_is(&P->lx, ")")) {
    if (P->nins && !irt_consume(&P->lx, ",")) irt_expected(&P->lx, "',' or ')'");
    IrTok vt = irt_take(&P->lx, TK_VALUE, "an input like %x");
    Pending in = {.loc = vt.loc};
    int prev;
    in.key = val_key(P, &vt, &in.id);
    if (val_get(P, in.key, &prev)) irt_error(&P->lx, vt.loc, "redefinition of value %%%s", in.key);
    in.name = in.id < 0 ? in.key : NULL;
    irt_expect(&P->lx, ":");
    in.ty = parse_type(P, true);
    ARENA_GROW(P->lx.arena, P->ins, P->nins, inscap, 8);
    P->ins[P->nins] = in;
    val_set(P, in.key, -2 - P->nins++);
  }
  irt_lex(&P->lx);
  irt_expect(&P->lx, "->");
  irt_expect(&P->lx, "(");
  Type *rty = NULL;
  int nr = 0, rcap = 0;
  while (!irt_is(&P->lx, ")")) {
    if (nr && !irt_consume(&P->lx, ",")) irt_expected(&P->lx, "',' or ')'");
    ARENA_GROW(P->lx.arena, rty, nr, rcap, 4);
    rty[nr++] = parse_type(P, true);
  }
  irt_lex(&P->lx);
  irt_expect(&P->lx, "{");
  for (;;) {
    sync_inputs(P);
    if (P->lx.tok.kind == TK_VALUE)
      parse_def(P);
    else if (irt_is(&P->lx, "store"))
      parse_store(P);
    else if (irt_is(&P->lx, "return"))
      break;
    else if (P->lx.tok.kind == TK_IDENT && ir_op_by_name(irt_tok_str(&P->lx, &P->lx.tok)) != OP_COUNT)
      irt_error(&P->lx, P->lx.tok.loc, "the result of '%.*s' needs a name: '%%v = %.*s ...'", P->lx.tok.len,
                P->lx.tok.s, P->lx.tok.len, P->lx.tok.s);
    else
      irt_expected(&P->lx, "a statement ('%v = op ...', 'store' or 'return')");
  }
  Loc retloc = P->lx.tok.loc;
  irt_lex(&P->lx);
  int nret = 0;
  if (P->lx.tok.kind == TK_VALUE) {
    do {
      Loc vl = P->lx.tok.loc;
      int v = parse_use(P);
      if (nret < nr && !ir_type_eq(&P->f->nodes[v].ty, &rty[nret])) {
        char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
        irt_error(&P->lx, vl, "return value %d has type %s, but the signature says %s", nret,
                  type_str(P, &P->f->nodes[v].ty, b1), type_str(P, &rty[nret], b2));
      }
      ir_ret(P->f, v);
      nret++;
    } while (irt_consume(&P->lx, ","));
  }
  if (nret != nr)
    irt_error(&P->lx, retloc, "'%s' returns %d value%s, but its signature declares %d", fname, nret,
              nret == 1 ? "" : "s", nr);
  while (P->placed < P->nins)
    place_one(P);
  irt_expect(&P->lx, "}");
  hoist_inputs(P);
  /* A function whose values carry slots has a memory plan (plan-memory's
   * record, which codegen takes as given). */
  for (int i = 0; i < P->f->n; i++)
    if (P->f->nodes[i].slot >= 0) P->f->mem_planned = true;
  /* Hand-written fusion groups must follow the one rule (ir/groups.c): a
   * bad group is an error at the offending node, here as in the verifier. */
  if (ir_groups_check(P->f, NULL, NULL, P->lx.d) < 0) longjmp(P->lx.fail, 1);
  P->f = NULL;
}

/* ---- module header ---- */

/* train   = "train" "{" (setting ("," setting)*)? "}"
 * setting = key "=" (number | ident | string)
 * Settings left out keep ir_module_new's defaults (the printer writes all). */
/* A train attribute's text value: a quoted string, or a bare word where the
 * text is one (the printer's print_word writes it so: schedule=cos). */
static const char *word_value(Parser *P, const char *what) {
  IrTok vt = P->lx.tok;
  if (vt.kind != TK_STR && vt.kind != TK_IDENT) irt_expected(&P->lx, what);
  const char *v = vt.kind == TK_STR ? irt_string(&P->lx, &vt) : irt_tok_str(&P->lx, &vt);
  irt_lex(&P->lx);
  return v;
}

static void parse_train(Parser *P) {
  static const char *const keys[] = {"lr",       "beta1",     "beta2",  "eps",       "weight_decay",
                                     "momentum", "rho",       "clip_norm", "batch", "epochs",
                                     "optimizer", "task",     "data",   "seed",      "schedule",
                                     "early_stop", "output_loss", "prune"};
  enum { NREALS = 8 };
  IrTrain *t = &P->m->train;
  double *const reals[NREALS] = {&t->lr, &t->beta1, &t->beta2, &t->eps, &t->weight_decay, &t->momentum, &t->rho,
                                 &t->clip_norm};
  int *const ints[] = {&t->batch, &t->epochs};
  if (t->present) irt_error(&P->lx, P->lx.tok.loc, "a module has one train block");
  t->present = true;
  irt_lex(&P->lx);
  irt_expect(&P->lx, "{");
  bool seen[NELEM(keys)] = {false};
  for (int nseen = 0; !irt_is(&P->lx, "}"); nseen++) {
    if (nseen && !irt_consume(&P->lx, ",")) irt_expected(&P->lx, "',' or '}'");
    IrTok kt = irt_take(&P->lx, TK_IDENT, "a train setting");
    int k = 0;
    while (k < NELEM(keys) && !irt_tok_eq(&kt, keys[k]))
      k++;
    if (k == NELEM(keys)) irt_error(&P->lx, kt.loc, "unknown train setting '%.*s'", kt.len > 40 ? 40 : kt.len, kt.s);
    if (seen[k]) irt_error(&P->lx, kt.loc, "train setting '%s' is given twice", keys[k]);
    seen[k] = true;
    irt_expect(&P->lx, "=");
    if (k < NREALS) {
      *reals[k] = irt_number(&P->lx);
    } else if (k < NREALS + 2) {
      *ints[k - NREALS] = (int)irt_int(&P->lx, 0, INT32_MAX, keys[k]);
    } else if (k == NREALS + 2) {
      t->opt = (OptKind)irt_keyword(&P->lx, ir_text_opt_names, NELEM(ir_text_opt_names), "optimizer");
    } else if (k == NREALS + 3) {
      t->task = irt_keyword(&P->lx, ir_text_task_names, NELEM(ir_text_task_names), "task");
    } else if (k == NREALS + 4) {
      t->data = word_value(P, "a dataset name");
    } else if (k == NREALS + 8) {
      t->output_loss =
          irt_keyword(&P->lx, ir_text_output_loss_names, NELEM(ir_text_output_loss_names), "output_loss");
    } else if (k == NREALS + 5) { /* seed: a uint64, beyond irt_int's range */
      t->seed = irt_uint64(&P->lx, "seed");
    } else { /* schedule, early_stop, prune: text the runtime parses (nnrt_sched.def, nnrt_prune.h) */
      *(k == NREALS + 6 ? &t->schedule : k == NREALS + 7 ? &t->early_stop : &t->prune) = word_value(P, "a string");
    }
  }
  irt_lex(&P->lx);
}

/* global = ("param" | "state" | "stats" | "mask") "@" name ":" type "=" init
 * init   = init-name ("(" number ("," number)* ")")?   (as many numbers as the init takes) */
static int global_kind(Parser *P) {
  for (int k = 0; k < NELEM(ir_global_kind_names); k++)
    if (irt_is(&P->lx, ir_global_kind_names[k])) return k;
  return -1;
}

/* data = "data" "=" "[" number ("," number)* "]": exactly the global's
 * element count, each a value its dtype holds. */
static const void *parse_global_data(Parser *P, const IrGlobal *g) {
  Loc dl = P->lx.tok.loc;
  irt_lex(&P->lx);
  irt_expect(&P->lx, "=");
  int64_t want = ir_numel_static(&g->ty.sh);
  if (!irt_is(&P->lx, "["))
    irt_error(&P->lx, dl, "expected data=[...]: IR text holds a global's data inline only up to %d elements",
              IR_DATA_INLINE);
  irt_lex(&P->lx);
  void *data = arena_alloc(P->lx.arena, (size_t)(want > 0 ? want : 1) * (size_t)ir_dtype_size(g->ty.dt));
  int64_t n = 0;
  while (!irt_is(&P->lx, "]")) {
    if (n && !irt_consume(&P->lx, ",")) irt_expected(&P->lx, "',' or ']'");
    Loc vl = P->lx.tok.loc;
    double v = irt_number(&P->lx);
    if (n == want) irt_error(&P->lx, vl, "@%s holds %lld elements; data has more", g->name, (long long)want);
    if (!ir_dtype_is_float(g->ty.dt) && !ir_dtype_holds(g->ty.dt, v))
      irt_error(&P->lx, vl, "%.9g is not a value of type %s", v, ir_dtype_name(g->ty.dt));
    ir_data_set(g->ty.dt, data, n++, v);
  }
  if (n != want) irt_error(&P->lx, dl, "@%s holds %lld elements; data has %lld", g->name, (long long)want, (long long)n);
  irt_lex(&P->lx);
  return data;
}

static void parse_global(Parser *P) {
  IrGlobal g = {.kind = (GlobalKind)global_kind(P)};
  irt_lex(&P->lx);
  IrTok nt = irt_take(&P->lx, TK_GLOBAL, "a global like @w");
  g.name = irt_tok_str(&P->lx, &nt);
  g.loc = nt.loc;
  int prev = ir_global_find(P->m, g.name);
  if (prev >= 0) irt_error(&P->lx, nt.loc, "global @%s is declared twice", g.name);
  irt_expect(&P->lx, ":");
  g.ty = parse_type(P, false);
  irt_expect(&P->lx, "=");
  Loc il = P->lx.tok.loc;
  g.init = irt_keyword(&P->lx, ir_text_init_names, NELEM(ir_text_init_names), "initialiser");
  int want = ir_text_init_nargs[g.init], n = 0;
  if (irt_consume(&P->lx, "(")) {
    while (!irt_is(&P->lx, ")")) {
      if (n && !irt_consume(&P->lx, ",")) irt_expected(&P->lx, "',' or ')'");
      double v = irt_number(&P->lx);
      if (n == 0)
        g.init_a = v;
      else if (n == 1)
        g.init_b = v;
      n++;
    }
    irt_lex(&P->lx);
  }
  if (n != want)
    irt_error(&P->lx, il, "%s takes %d argument%s, got %d", ir_text_init_names[g.init], want, want == 1 ? "" : "s", n);
  if (irt_is(&P->lx, "data")) g.data = parse_global_data(P, &g);
  ir_global_add(P->m, g);
}

/* module = "module" ident ("sym" ident | train | global | func)* EOF */
static void parse_module(Parser *P) {
  if (!irt_is(&P->lx, "module")) irt_expected(&P->lx, "'module NAME' at the start");
  irt_lex(&P->lx);
  IrTok nt = irt_take(&P->lx, TK_IDENT, "a module name");
  P->m = ir_module_new(P->lx.arena, irt_tok_str(&P->lx, &nt));
  while (P->lx.tok.kind != TK_EOF) {
    if (irt_consume(&P->lx, "sym")) {
      IrTok st = irt_take(&P->lx, TK_IDENT, "a symbolic dim name");
      char *s = irt_tok_str(&P->lx, &st);
      if (ir_sym_find(P->m, s) >= 0) irt_error(&P->lx, st.loc, "sym %s is declared twice", s);
      ir_sym(P->m, s);
    } else if (irt_is(&P->lx, "train")) {
      parse_train(P);
    } else if (global_kind(P) >= 0) {
      parse_global(P);
    } else if (irt_is(&P->lx, "func")) {
      parse_func(P);
    } else {
      irt_expected(&P->lx, "'sym', 'train', 'param', 'state' or 'func'");
    }
  }
}

IrModule *ir_parse(Arena *a, Diag *d, const char *path, const char *text, size_t len) {
  Parser P = {0};
  irt_init(&P.lx, a, d, path, text, len);
  if (setjmp(P.lx.fail)) return NULL; /* the error has been reported */
  irt_lex(&P.lx);
  parse_module(&P);
  return P.m;
}
