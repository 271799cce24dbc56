/* text_parse.c — the IR text parser (docs/ir.md, "Text format").
 *
 * A hand-written lexer and a recursive-descent parser; each parse function
 * carries its grammar rule above it. The parser builds nodes with ir_emit,
 * so the shape rules check every line: a typed op (const, reshape...) gets
 * its declared type checked, any other op gets its type derived and compared
 * with the declared one.
 *
 * Errors are the user's (the file is input): the first one is reported
 * through diag_error with file:line:col and the parse unwinds with longjmp,
 * so no error path has to be threaded through the descent. Nothing here may
 * crash on any input: the lexer works on (text, len), never on NUL
 * termination, numbers are copied before strtod, lists are bounded, and
 * every call into ir_emit has first been checked to satisfy its
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
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* The keyword tables live in text_print.c, one copy for both directions. */
extern const char *const ir_text_opt_names[3];
extern const char *const ir_text_task_names[3];
extern const char *const ir_text_init_names[6];
extern const int ir_text_init_nargs[6];

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
/* Limits that keep arithmetic on parsed numbers far from overflow. */
#define MAX_DIM ((int64_t)1 << 31)
#define MAX_NUMEL ((int64_t)1 << 48)
#define MAX_VALUE_ID 100000000

/* ---- lexer ---- */

typedef enum { TK_EOF, TK_IDENT, TK_VALUE, TK_GLOBAL, TK_NUM, TK_STR, TK_PUNCT } TokKind;

typedef struct Tok {
  TokKind kind;
  const char *s; /* TK_VALUE, TK_GLOBAL: the name after the sigil */
  int len;
  Loc loc;
} Tok;

/* An input of the function being parsed, not yet placed as a node. */
typedef struct Pending {
  const char *key;  /* its key in the value table */
  const char *name; /* node name; NULL when it is numbered (%3) */
  int id;           /* the node id a numbered input must get, else -1 */
  Type ty;
  Loc loc;
} Pending;

typedef struct Parser {
  Diag *d;
  Arena *arena;
  const char *file, *p, *end, *line_start;
  int line;
  Tok tok;
  jmp_buf fail;
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

static _Noreturn void error_at(Parser *P, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static _Noreturn void error_at(Parser *P, Loc loc, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_error(P->d, loc, "%s", msg);
  longjmp(P->fail, 1);
}

static bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool digit(char c) { return c >= '0' && c <= '9'; }
static bool ident_char(char c) { return ident_start(c) || digit(c) || c == '.'; }

static Loc here(Parser *P) { return (Loc){P->file, P->line, (int)(P->p - P->line_start) + 1}; }

static void skip_space(Parser *P) {
  while (P->p < P->end) {
    char c = *P->p;
    if (c == '\n') {
      P->p++;
      P->line++;
      P->line_start = P->p;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      P->p++;
    } else if (c == '#') {
      while (P->p < P->end && *P->p != '\n')
        P->p++;
    } else {
      return;
    }
  }
}

/* token = ident | "%" name | "@" name | number | string | punct
 * number = [+-]? (digit | ".") (ident_char | [+-] after e/E)*  (checked by strtod)
 *        | [+-] ("inf" | "nan")   (an unsigned inf/nan lexes as an ident) */
static void lex(Parser *P) {
  skip_space(P);
  Tok t = {.loc = here(P), .s = P->p};
  const char *p = P->p, *e = P->end;
  if (p >= e) {
    t.kind = TK_EOF;
  } else if (ident_start(*p)) {
    t.kind = TK_IDENT;
    while (p < e && ident_char(*p))
      p++;
  } else if (*p == '%' || *p == '@') {
    t.kind = *p == '%' ? TK_VALUE : TK_GLOBAL;
    t.s = ++p;
    while (p < e && ident_char(*p))
      p++;
    if (p == t.s) error_at(P, t.loc, "expected a name after '%c'", p[-1]);
  } else if (digit(*p) || *p == '.' ||
             ((*p == '-' || *p == '+') && p + 1 < e && (digit(p[1]) || p[1] == '.' || p[1] == 'i' || p[1] == 'n'))) {
    t.kind = TK_NUM;
    p++;
    while (p < e && (ident_char(*p) || ((*p == '-' || *p == '+') && (p[-1] == 'e' || p[-1] == 'E'))))
      p++;
  } else if (*p == '"') {
    t.kind = TK_STR;
    for (p++;; p++) {
      bool esc = p < e && *p == '\\';
      if (esc) p++; /* the escaped character is checked like any other */
      if (p >= e || *p == '\n') error_at(P, t.loc, "unterminated string");
      if ((unsigned char)*p < 0x20) error_at(P, t.loc, "control character in a string (write it as \\x..)");
      if (!esc && *p == '"') break;
    }
    p++;
  } else if (*p == '-' && p + 1 < e && p[1] == '>') {
    t.kind = TK_PUNCT;
    p += 2;
  } else if (*p && strchr("()[]{},:=", *p)) {
    t.kind = TK_PUNCT;
    p++;
  } else {
    unsigned char c = (unsigned char)*p;
    if (c > 0x20 && c < 0x7f) error_at(P, t.loc, "unexpected character '%c'", c);
    error_at(P, t.loc, "unexpected byte 0x%02x", c);
  }
  t.len = (int)(p - t.s);
  P->p = p;
  P->tok = t;
}

/* "'text'" for messages, cut short: tokens can be long. */
static const char *describe(const Tok *t, char *buf, size_t n) {
  if (t->kind == TK_EOF) return "end of file";
  const char *sigil = t->kind == TK_VALUE ? "%" : t->kind == TK_GLOBAL ? "@" : "";
  snprintf(buf, n, "'%s%.*s%s'", sigil, t->len > 40 ? 40 : t->len, t->s, t->len > 40 ? "..." : "");
  return buf;
}

static bool is(Parser *P, const char *s) {
  return (P->tok.kind == TK_PUNCT || P->tok.kind == TK_IDENT) && P->tok.len == (int)strlen(s) &&
         !memcmp(P->tok.s, s, (size_t)P->tok.len);
}

static bool consume(Parser *P, const char *s) {
  if (!is(P, s)) return false;
  lex(P);
  return true;
}

static _Noreturn void expected(Parser *P, const char *what) {
  char b[64];
  error_at(P, P->tok.loc, "expected %s, got %s", what, describe(&P->tok, b, sizeof b));
}

static void expect(Parser *P, const char *s) {
  if (consume(P, s)) return;
  char what[32];
  snprintf(what, sizeof what, "'%s'", s);
  expected(P, what);
}

/* Takes the current token, which must be of kind k; returns it. */
static Tok take(Parser *P, TokKind k, const char *what) {
  if (P->tok.kind != k) expected(P, what);
  Tok t = P->tok;
  lex(P);
  return t;
}

static char *tok_str(Parser *P, const Tok *t) { return arena_strndup(P->arena, t->s, (size_t)t->len); }

static bool tok_eq(const Tok *t, const char *s) { return t->len == (int)strlen(s) && !memcmp(t->s, s, (size_t)t->len); }

/* ---- numbers ---- */

/* Copies a number token into buf[64] as a C string for strto*; false if the
 * token is no number or too long to be one. */
static bool num_text(const Tok *t, char *buf) {
  bool ok = (t->kind == TK_NUM || (t->kind == TK_IDENT && (tok_eq(t, "inf") || tok_eq(t, "nan")))) && t->len < 64;
  if (ok) memcpy(buf, t->s, (size_t)t->len), buf[t->len] = 0;
  return ok;
}

/* int = [-]? digit+ ; in [lo, hi] */
static int64_t parse_int(Parser *P, int64_t lo, int64_t hi, const char *what) {
  Tok t = P->tok;
  char buf[64];
  bool ok = num_text(&t, buf);
  for (int i = 0; ok && i < t.len; i++)
    ok = digit(t.s[i]) || (i == 0 && t.s[i] == '-' && t.len > 1);
  if (!ok) expected(P, what);
  errno = 0;
  long long v = strtoll(buf, NULL, 10);
  if (errno || v < lo || v > hi)
    error_at(P, t.loc, "%s must be between %lld and %lld", what, (long long)lo, (long long)hi);
  lex(P);
  return v;
}

/* number = NUM | "inf" | "nan"   (anything strtod reads whole; %.9g output) */
static double parse_number(Parser *P) {
  char buf[64], *end;
  if (!num_text(&P->tok, buf)) expected(P, "a number");
  double v = strtod(buf, &end);
  if (*end) error_at(P, P->tok.loc, "malformed number '%s'", buf);
  lex(P);
  return v;
}

/* ---- types ---- */

/* type = ("f32" | "i32") "[" (dim ("," dim)*)? "]"
 * dim  = int | sym-name */
static Type parse_type(Parser *P, bool allow_sym) {
  Type ty = {0};
  Tok t = P->tok;
  if (t.kind != TK_IDENT) expected(P, "a type like f32[2,3]");
  if (tok_eq(&t, "f32"))
    ty.dt = DT_F32;
  else if (tok_eq(&t, "i32"))
    ty.dt = DT_I32;
  else
    error_at(P, t.loc, "unknown element type '%.*s' (expected f32 or i32)", t.len > 40 ? 40 : t.len, t.s);
  lex(P);
  expect(P, "[");
  int64_t numel = 1;
  while (!is(P, "]")) {
    if (ty.sh.rank && !consume(P, ",")) expected(P, "',' or ']'");
    Tok dt = P->tok;
    if (ty.sh.rank == IR_MAX_RANK) error_at(P, dt.loc, "a type has at most %d dimensions", IR_MAX_RANK);
    int64_t d;
    if (dt.kind == TK_IDENT) {
      char *name = tok_str(P, &dt);
      int k = ir_sym_find(P->m, name);
      if (k < 0) error_at(P, dt.loc, "unknown symbolic dim '%s' (declare it with 'sym %s')", name, name);
      if (!allow_sym) error_at(P, dt.loc, "globals have static shapes; '%s' is symbolic", name);
      d = IR_SYM(k);
      lex(P);
    } else {
      d = parse_int(P, 1, MAX_DIM, "a dimension");
      numel *= d;
      if (numel > MAX_NUMEL) error_at(P, dt.loc, "tensor has too many elements");
    }
    ty.sh.d[ty.sh.rank++] = d;
  }
  lex(P);
  return ty;
}

static const char *type_str(Parser *P, const Type *t, char *buf) { return ir_type_str(P->m, t, buf, IR_TYPE_STRLEN); }

/* ---- the value table of one function ---- */

static size_t key_hash(const char *s) { /* FNV-1a */
  size_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* The slot of key s, or the empty slot (keys[i] == NULL) where it would go. */
static int val_slot(const Parser *P, const char *s) {
  size_t i = key_hash(s) & (size_t)(P->cap - 1);
  while (P->keys[i] && strcmp(P->keys[i], s))
    i = (i + 1) & (size_t)(P->cap - 1);
  return (int)i;
}

static void val_set(Parser *P, const char *key, int v) {
  if (2 * (P->count + 1) > P->cap) { /* rehash into a table twice the size */
    const char **ok = P->keys;
    int *ov = P->vals, ocap = P->cap;
    P->cap = ocap ? 2 * ocap : 64;
    P->keys = arena_alloc(P->arena, sizeof *P->keys * (size_t)P->cap);
    P->vals = arena_alloc(P->arena, sizeof *P->vals * (size_t)P->cap);
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
static const char *val_key(Parser *P, const Tok *t, int *num) {
  bool numeric = true;
  for (int i = 0; i < t->len && numeric; i++)
    numeric = digit(t->s[i]);
  *num = -1;
  if (!numeric) return tok_str(P, t);
  long long n = 0;
  for (int i = 0; i < t->len; i++) {
    n = n * 10 + (t->s[i] - '0');
    if (n > MAX_VALUE_ID) error_at(P, t->loc, "value number %%%.*s is too large", t->len > 40 ? 40 : t->len, t->s);
  }
  *num = (int)n;
  return arena_printf(P->arena, "%d", *num);
}

/* ---- placing inputs (see the top of the file) ---- */

static void place_one(Parser *P) {
  Pending *in = &P->ins[P->placed];
  if (in->id >= 0 && in->id != P->f->n)
    error_at(P, in->loc, "input %%%d is out of order: it would be value %%%d here", in->id, P->f->n);
  Attrs at = {.index = P->placed};
  int v = ir_emit(P->f, OP_INPUT, NULL, 0, &at, &in->ty, in->loc, P->d);
  if (v < 0) longjmp(P->fail, 1);
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
  Tok t = take(P, TK_VALUE, "a value like %x");
  int num, v;
  const char *key = val_key(P, &t, &num);
  if (!val_get(P, key, &v)) error_at(P, t.loc, "use of undefined value %%%s", key);
  if (v <= -2) {
    while (P->placed <= -2 - v)
      place_one(P);
    val_get(P, key, &v);
  }
  return v;
}

/* ---- attributes ---- */

/* attrs = "{" (attr ("," attr)*)? "}"
 * attr  = "value" "=" number | ("axis" | "keepdims" | "ta" | "tb") "=" int
 *       | ("axes" | "perm") "=" "[" (int ("," int)*)? "]" */
static void parse_attrs(Parser *P, OpKind op, Attrs *at, Loc op_loc) {
  static const struct {
    const char *name;
    unsigned kind;
    size_t field; /* the int it sets (value, axes and perm are parsed apart) */
    int max;
  } names[] = {{"value", A_VALUE, 0, 0},
               {"axis", A_AXIS, offsetof(Attrs, axis), 1000},
               {"axes", A_AXES, 0, 0},
               {"keepdims", A_KEEPDIMS, offsetof(Attrs, keepdims), 1},
               {"perm", A_PERM, 0, 0},
               {"ta", A_TRANS, offsetof(Attrs, ta), 1},
               {"tb", A_TRANS, offsetof(Attrs, tb), 1}};
  unsigned want = ir_ops[op].attrs & ~(unsigned)(A_INDEX | A_NAME);
  bool seen[NELEM(names)] = {false};
  const char *mn = ir_ops[op].mnemonic;
  if (consume(P, "{") && !consume(P, "}")) {
    do {
      Tok t = take(P, TK_IDENT, "an attribute name");
      int k = 0;
      while (k < NELEM(names) && !tok_eq(&t, names[k].name))
        k++;
      if (k == NELEM(names)) error_at(P, t.loc, "unknown attribute '%.*s'", t.len > 40 ? 40 : t.len, t.s);
      if (!(want & names[k].kind)) error_at(P, t.loc, "'%s' has no attribute '%s'", mn, names[k].name);
      if (seen[k]) error_at(P, t.loc, "attribute '%s' is given twice", names[k].name);
      seen[k] = true;
      expect(P, "=");
      if (names[k].kind == A_VALUE) {
        at->value = parse_number(P);
      } else if (names[k].field) {
        *(int *)((char *)at + names[k].field) = (int)parse_int(P, 0, names[k].max, names[k].name);
      } else { /* axes, perm */
        expect(P, "[");
        for (at->naxes = 0; !consume(P, "]");) {
          if (at->naxes && !consume(P, ",")) expected(P, "',' or ']'");
          if (at->naxes == IR_MAX_RANK) error_at(P, P->tok.loc, "at most %d axes", IR_MAX_RANK);
          at->axes[at->naxes++] = (int)parse_int(P, 0, 1000, "an axis");
        }
      }
    } while (consume(P, ","));
    if (!consume(P, "}")) expected(P, "',' or '}'");
  }
  for (int k = 0; k < NELEM(names); k++)
    if ((want & names[k].kind) && !seen[k])
      error_at(P, op_loc, "'%s' needs attribute '%s' (all of an op's attributes are written)", mn, names[k].name);
}

/* ---- statements ---- */

/* operands = ("@" name ","?)? (value ("," value)*)?
 * Reads up to IR_MAX_ARGS operands and counts the rest, for the message. */
static int parse_operands(Parser *P, OpKind op, int *args, Attrs *at) {
  const OpInfo *info = &ir_ops[op];
  if (info->attrs & A_NAME) {
    Tok g = take(P, TK_GLOBAL, "a global like @w");
    at->name = tok_str(P, &g);
    if (ir_global_find(P->m, at->name) < 0) error_at(P, g.loc, "unknown global @%s", at->name);
    if (!consume(P, ",")) return 0;
  } else if (P->tok.kind != TK_VALUE) {
    return 0;
  }
  int n = 0;
  do {
    int v = parse_use(P);
    if (n < IR_MAX_ARGS) args[n] = v;
    n++;
  } while (consume(P, ","));
  return n;
}

static void check_arity(Parser *P, OpKind op, int n, Loc loc) {
  int want = ir_ops[op].nargs;
  if (n != want)
    error_at(P, loc, "'%s' takes %d operand%s, got %d", ir_ops[op].mnemonic, want, want == 1 ? "" : "s", n);
}

/* def = "%" name "=" mnemonic operands attrs? ":" type */
static void parse_def(Parser *P) {
  Tok name = take(P, TK_VALUE, "a value");
  int num, prev;
  const char *key = val_key(P, &name, &num);
  if (val_get(P, key, &prev)) error_at(P, name.loc, "redefinition of value %%%s", key);
  if (num >= 0) { /* a numbered value is node `num`: fill the ids before it with inputs */
    while (P->f->n < num && P->placed < P->nins)
      place_one(P);
    if (P->f->n != num)
      error_at(P, name.loc, "value %%%d is out of order: unnamed values are numbered by position, this is %%%d", num,
               P->f->n);
  }
  expect(P, "=");
  Tok mt = take(P, TK_IDENT, "an op name");
  char mbuf[32];
  snprintf(mbuf, sizeof mbuf, "%.*s", mt.len < 31 ? mt.len : 31, mt.s);
  OpKind op = mt.len < 31 ? ir_op_by_name(mbuf) : OP_COUNT;
  if (op == OP_COUNT) error_at(P, mt.loc, "unknown op '%.*s'", mt.len > 40 ? 40 : mt.len, mt.s);
  if (op == OP_INPUT) error_at(P, mt.loc, "inputs are declared in the function signature");
  if (op == OP_STORE) error_at(P, mt.loc, "store has no result: write 'store @g, %%v'");
  int args[IR_MAX_ARGS];
  Attrs at = {0};
  int n = parse_operands(P, op, args, &at);
  check_arity(P, op, n, mt.loc);
  parse_attrs(P, op, &at, mt.loc);
  expect(P, ":");
  Loc tloc = P->tok.loc;
  Type decl = parse_type(P, true);
  int v = ir_emit(P->f, op, args, n, &at, &decl, mt.loc, P->d);
  if (v < 0) longjmp(P->fail, 1);
  /* Operands that were pending inputs were placed just now, after the gap
   * was filled: in printed text that cannot happen. */
  if (num >= 0 && v != num) error_at(P, name.loc, "value %%%d is out of order: it would be %%%d", num, v);
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!ir_type_eq(&P->f->nodes[v].ty, &decl))
    error_at(P, tloc, "type mismatch: %s gives %s, not the declared %s", ir_ops[op].mnemonic,
             type_str(P, &P->f->nodes[v].ty, b1), type_str(P, &decl, b2));
  if (num < 0) P->f->nodes[v].name = key;
  val_set(P, key, v);
}

/* store = "store" "@" name "," value */
static void parse_store(Parser *P) {
  Loc loc = P->tok.loc;
  lex(P);
  int args[IR_MAX_ARGS];
  Attrs at = {0};
  int n = parse_operands(P, OP_STORE, args, &at);
  check_arity(P, OP_STORE, n, loc);
  if (ir_emit(P->f, OP_STORE, args, n, &at, NULL, loc, P->d) < 0) longjmp(P->fail, 1);
}

/* Lazy placement leaves an input as late as its first use; this moves each
 * named input back up past the named values and stores in front of it, so
 * that a parsed function has its inputs first wherever the text allows, as
 * the frontend builds them. It never moves an input past a numbered value
 * (the text fixes those ids) nor past another input (index order). Only
 * sources move up, so operands still precede their users. */
static void hoist_inputs(Parser *P) {
  IrFunc *f = P->f;
  int *order = arena_alloc(P->arena, sizeof *order * (size_t)(f->n + 1));
  int *map = arena_alloc(P->arena, sizeof *map * (size_t)(f->n + 1));
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
  IrNode *nodes = arena_alloc(P->arena, sizeof *nodes * (size_t)(f->n + 1));
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
  lex(P);
  Tok nt = take(P, TK_IDENT, "a function name");
  char *fname = tok_str(P, &nt);
  if (ir_func_find(P->m, fname)) error_at(P, nt.loc, "function '%s' is defined twice", fname);
  P->f = ir_func_new(P->m, fname);
  P->keys = NULL, P->vals = NULL, P->cap = P->count = 0;
  P->ins = NULL, P->nins = P->placed = 0;
  int inscap = 0;
  expect(P, "(");
  while (!is(P, ")")) {
    if (P->nins && !consume(P, ",")) expected(P, "',' or ')'");
    Tok vt = take(P, TK_VALUE, "an input like %x");
    Pending in = {.loc = vt.loc};
    int prev;
    in.key = val_key(P, &vt, &in.id);
    if (val_get(P, in.key, &prev)) error_at(P, vt.loc, "redefinition of value %%%s", in.key);
    in.name = in.id < 0 ? in.key : NULL;
    expect(P, ":");
    in.ty = parse_type(P, true);
    if (P->nins == inscap) {
      int nc = inscap ? 2 * inscap : 8;
      P->ins = arena_grow(P->arena, P->ins, (size_t)inscap, (size_t)nc, sizeof *P->ins);
      inscap = nc;
    }
    P->ins[P->nins] = in;
    val_set(P, in.key, -2 - P->nins++);
  }
  lex(P);
  expect(P, "->");
  expect(P, "(");
  Type *rty = NULL;
  int nr = 0, rcap = 0;
  while (!is(P, ")")) {
    if (nr && !consume(P, ",")) expected(P, "',' or ')'");
    if (nr == rcap) {
      int nc = rcap ? 2 * rcap : 4;
      rty = arena_grow(P->arena, rty, (size_t)rcap, (size_t)nc, sizeof *rty);
      rcap = nc;
    }
    rty[nr++] = parse_type(P, true);
  }
  lex(P);
  expect(P, "{");
  for (;;) {
    sync_inputs(P);
    if (P->tok.kind == TK_VALUE)
      parse_def(P);
    else if (is(P, "store"))
      parse_store(P);
    else if (is(P, "return"))
      break;
    else if (P->tok.kind == TK_IDENT && ir_op_by_name(tok_str(P, &P->tok)) != OP_COUNT)
      error_at(P, P->tok.loc, "the result of '%.*s' needs a name: '%%v = %.*s ...'", P->tok.len, P->tok.s, P->tok.len,
               P->tok.s);
    else
      expected(P, "a statement ('%v = op ...', 'store' or 'return')");
  }
  Loc retloc = P->tok.loc;
  lex(P);
  int nret = 0;
  if (P->tok.kind == TK_VALUE) {
    do {
      Loc vl = P->tok.loc;
      int v = parse_use(P);
      if (nret < nr && !ir_type_eq(&P->f->nodes[v].ty, &rty[nret])) {
        char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
        error_at(P, vl, "return value %d has type %s, but the signature says %s", nret,
                 type_str(P, &P->f->nodes[v].ty, b1), type_str(P, &rty[nret], b2));
      }
      ir_ret(P->f, v);
      nret++;
    } while (consume(P, ","));
  }
  if (nret != nr)
    error_at(P, retloc, "'%s' returns %d value%s, but its signature declares %d", fname, nret, nret == 1 ? "" : "s",
             nr);
  while (P->placed < P->nins)
    place_one(P);
  expect(P, "}");
  hoist_inputs(P);
  P->f = NULL;
}

/* ---- module header ---- */

/* string = '"' (char | "\\" ["\\] | "\\x" hex hex)* '"'  (decoded; "" is NULL) */
static const char *decode_string(Parser *P, const Tok *t) {
  char *out = arena_alloc(P->arena, (size_t)t->len), *o = out;
  for (int i = 1; i < t->len - 1; i++) {
    char c = t->s[i];
    if (c == '\\') {
      c = t->s[++i];
      if (c == 'x') {
        int v = 0;
        for (int k = 0; k < 2; k++, i++) {
          char h = i + 1 < t->len - 1 ? t->s[i + 1] : 0;
          int hv = digit(h)                 ? h - '0'
                   : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                   : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                            : -1;
          if (hv < 0) error_at(P, t->loc, "bad \\x escape in a string");
          v = v * 16 + hv;
        }
        c = (char)v;
        if (!c) error_at(P, t->loc, "a string cannot hold \\x00");
      } else if (c != '"' && c != '\\') {
        error_at(P, t->loc, "unknown escape '\\%c' in a string", c);
      }
    }
    *o++ = c;
  }
  return o == out ? NULL : out;
}

static int keyword_index(Parser *P, const char *const *tab, int n, const char *what) {
  Tok t = take(P, TK_IDENT, what);
  for (int i = 0; i < n; i++)
    if (tok_eq(&t, tab[i])) return i;
  error_at(P, t.loc, "unknown %s '%.*s'", what, t.len > 40 ? 40 : t.len, t.s);
}

/* train   = "train" "{" (setting ("," setting)*)? "}"
 * setting = key "=" (number | ident | string)
 * Settings left out keep ir_module_new's defaults (the printer writes all). */
static void parse_train(Parser *P) {
  static const char *const keys[] = {"lr",    "beta1",  "beta2",     "eps",  "weight_decay", "momentum",
                                     "batch", "epochs", "optimizer", "task", "data",         "seed"};
  IrTrain *t = &P->m->train;
  double *const reals[] = {&t->lr, &t->beta1, &t->beta2, &t->eps, &t->weight_decay, &t->momentum};
  int *const ints[] = {&t->batch, &t->epochs};
  if (t->present) error_at(P, P->tok.loc, "a module has one train block");
  t->present = true;
  lex(P);
  expect(P, "{");
  bool seen[NELEM(keys)] = {false};
  for (int nseen = 0; !is(P, "}"); nseen++) {
    if (nseen && !consume(P, ",")) expected(P, "',' or '}'");
    Tok kt = take(P, TK_IDENT, "a train setting");
    int k = 0;
    while (k < NELEM(keys) && !tok_eq(&kt, keys[k]))
      k++;
    if (k == NELEM(keys)) error_at(P, kt.loc, "unknown train setting '%.*s'", kt.len > 40 ? 40 : kt.len, kt.s);
    if (seen[k]) error_at(P, kt.loc, "train setting '%s' is given twice", keys[k]);
    seen[k] = true;
    expect(P, "=");
    Tok vt = P->tok;
    char buf[64], *end;
    if (k < 6) {
      *reals[k] = parse_number(P);
    } else if (k < 8) {
      *ints[k - 6] = (int)parse_int(P, 0, INT32_MAX, keys[k]);
    } else if (k == 8) {
      t->opt = (OptKind)keyword_index(P, ir_text_opt_names, NELEM(ir_text_opt_names), "optimizer");
    } else if (k == 9) {
      t->task = keyword_index(P, ir_text_task_names, NELEM(ir_text_task_names), "task");
    } else if (k == 10) {
      if (vt.kind != TK_STR && vt.kind != TK_IDENT) expected(P, "a dataset name");
      t->data = vt.kind == TK_STR ? decode_string(P, &vt) : tok_str(P, &vt);
      lex(P);
    } else { /* seed: a uint64, beyond parse_int's range */
      bool ok = num_text(&vt, buf) && digit(buf[0]);
      errno = 0;
      if (ok) t->seed = strtoull(buf, &end, 10);
      if (!ok || errno || *end) error_at(P, vt.loc, "seed must be an integer from 0 to 2^64-1");
      lex(P);
    }
  }
  lex(P);
}

/* global = ("param" | "state") "@" name ":" type "=" init
 * init   = init-name ("(" number ("," number)* ")")?   (as many numbers as the init takes) */
static void parse_global(Parser *P) {
  IrGlobal g = {.kind = is(P, "state") ? GLOBAL_STATE : GLOBAL_PARAM};
  lex(P);
  Tok nt = take(P, TK_GLOBAL, "a global like @w");
  g.name = tok_str(P, &nt);
  g.loc = nt.loc;
  int prev = ir_global_find(P->m, g.name);
  if (prev >= 0) error_at(P, nt.loc, "global @%s is declared twice", g.name);
  expect(P, ":");
  g.ty = parse_type(P, false);
  expect(P, "=");
  Loc il = P->tok.loc;
  g.init = keyword_index(P, ir_text_init_names, NELEM(ir_text_init_names), "initialiser");
  int want = ir_text_init_nargs[g.init], n = 0;
  if (consume(P, "(")) {
    while (!is(P, ")")) {
      if (n && !consume(P, ",")) expected(P, "',' or ')'");
      double v = parse_number(P);
      if (n == 0)
        g.init_a = v;
      else if (n == 1)
        g.init_b = v;
      n++;
    }
    lex(P);
  }
  if (n != want)
    error_at(P, il, "%s takes %d argument%s, got %d", ir_text_init_names[g.init], want, want == 1 ? "" : "s", n);
  ir_global_add(P->m, g);
}

/* module = "module" ident ("sym" ident | train | global | func)* EOF */
static void parse_module(Parser *P) {
  if (!is(P, "module")) expected(P, "'module NAME' at the start");
  lex(P);
  Tok nt = take(P, TK_IDENT, "a module name");
  P->m = ir_module_new(P->arena, tok_str(P, &nt));
  while (P->tok.kind != TK_EOF) {
    if (consume(P, "sym")) {
      Tok st = take(P, TK_IDENT, "a symbolic dim name");
      char *s = tok_str(P, &st);
      if (ir_sym_find(P->m, s) >= 0) error_at(P, st.loc, "sym %s is declared twice", s);
      ir_sym(P->m, s);
    } else if (is(P, "train")) {
      parse_train(P);
    } else if (is(P, "param") || is(P, "state")) {
      parse_global(P);
    } else if (is(P, "func")) {
      parse_func(P);
    } else {
      expected(P, "'sym', 'train', 'param', 'state' or 'func'");
    }
  }
}

IrModule *ir_parse(Arena *a, Diag *d, const char *path, const char *text, size_t len) {
  Parser P = {.d = d, .arena = a, .line = 1};
  P.file = diag_source(d, path ? path : "<input>", text ? text : "", text ? len : 0);
  P.p = P.line_start = text ? text : "";
  P.end = P.p + (text ? len : 0);
  if (setjmp(P.fail)) return NULL; /* the error has been reported */
  lex(&P);
  parse_module(&P);
  return P.m;
}
