/* parse.c — recursive-descent parser from tokens to the syntax tree (ast.h).
 *
 * Each function carries its grammar rule in a comment. Statements end at a
 * newline or ';'. A line continues after an opening bracket, a comma or a
 * binary operator, before a closing bracket, and when the next line starts
 * with `|>` (so long pipelines can be written one stage per line).
 *
 * Error recovery: a syntax error longjmps back to the statement loop, which
 * skips to the next statement boundary (newline, ';' or '}'). The statement
 * being parsed is kept with an EX_ERROR value where it had a name, so that
 * lowering neither reports "unknown name" for it nor a missing `output`.
 * Nesting deeper than FE_MAX_DEPTH is an error, so the parser's recursion
 * (and lowering's, which follows the tree) is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

typedef struct Parser {
  Arena *a;
  Diag *d;
  Token *toks;
  int ntok, i;
  int depth;     /* recursion depth of the expression parser */
  jmp_buf *jb;   /* where a syntax error goes: the current statement's guard */
  Program *prog; /* where statements go (a scratch program for a second model) */
  /* The statement being parsed, kept on a syntax error (see top of file). */
  bool has_pending;
  Stmt pending;
  bool has_pending_item;
  TrainItem pending_item;
  /* Where statements go: the model's list, a def's or a repeat's body. */
  Stmt **body;
  int *nbody, *bodycap;
  const Def *in_def; /* parsing a def's body (return allowed, input not) */
  int repeat_depth;  /* parsing a repeat's body (return not allowed) */
} Parser;

static const char *const keywords[] = {"model", "input",  "param",  "output", "minimize",
                                       "train", "def",    "repeat", "return"};
static const char *const stmt_words[] = {"input", "param", "output", "minimize"};

/* ---- tokens ---- */

static Token *cur(Parser *P) { return &P->toks[P->i]; }
static Token *ahead(Parser *P, int k) {
  int j = P->i + k;
  return &P->toks[j < P->ntok ? j : P->ntok - 1];
}
static void advance(Parser *P) {
  if (cur(P)->kind != TK_EOF) P->i++;
}
static bool is(Parser *P, const char *s) { return lex_is(cur(P), s); }
static bool accept(Parser *P, const char *s) {
  if (!is(P, s)) return false;
  advance(P);
  return true;
}
static void skip_nl(Parser *P) {
  while (cur(P)->kind == TK_NEWLINE) advance(P);
}

/* A newline right before a closing bracket is skipped, so that
 *   f(a,
 *     b
 *   )
 * parses; any other newline inside brackets ends the statement, so that an
 * unclosed "(" is reported on its own line. */
static void skip_nl_before(Parser *P, const char *closing) {
  if (cur(P)->kind == TK_NEWLINE && lex_is(ahead(P, 1), closing)) advance(P);
}

static bool is_keyword(const Token *t) {
  for (size_t k = 0; k < sizeof keywords / sizeof *keywords; k++)
    if (t->kind == TK_IDENT && lex_is(t, keywords[k])) return true;
  return false;
}

/* A token as an error message names it. */
static const char *describe(Parser *P, const Token *t) {
  switch (t->kind) {
  case TK_EOF: return "end of file";
  case TK_NEWLINE: return "end of line";
  case TK_STR: return "a string";
  case TK_BAD: return "a bad character";
  default: return arena_printf(P->a, "'%.*s'", t->len > 40 ? 40 : t->len, t->text);
  }
}

static _Noreturn void syntax_error(Parser *P, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static _Noreturn void syntax_error(Parser *P, Loc loc, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  /* At a rejected character the lexer has spoken already. */
  if (cur(P)->kind != TK_BAD) diag_error(P->d, loc, "%s", buf);
  longjmp(*P->jb, 1);
}

static Token *expect(Parser *P, const char *s) {
  Token *t = cur(P);
  if (!lex_is(t, s)) syntax_error(P, t->loc, "expected '%s', found %s", s, describe(P, t));
  advance(P);
  return t;
}

static Token *expect_name(Parser *P, const char *what) {
  Token *t = cur(P);
  if (t->kind != TK_IDENT) syntax_error(P, t->loc, "expected %s, found %s", what, describe(P, t));
  if (is_keyword(t)) syntax_error(P, t->loc, "expected %s, found the keyword %s", what, describe(P, t));
  advance(P);
  return t;
}

static const char *tok_str(Parser *P, const Token *t) { return arena_strndup(P->a, t->text, (size_t)t->len); }

/* ---- expressions ---- */

static Expr *parse_expr(Parser *P);
static Expr *parse_unary(Parser *P);

static Expr *new_expr(Parser *P, ExprKind kind, Loc loc) {
  Expr *e = arena_alloc(P->a, sizeof *e);
  e->kind = kind;
  e->loc = loc;
  return e;
}

/* Keeps a node's height, and rejects trees too tall to lower recursively
 * (a pipeline of a thousand stages builds one without any recursion here). */
static void set_depth(Parser *P, Expr *e, int child_depth) {
  e->depth = child_depth + 1;
  if (e->depth > FE_MAX_DEPTH)
    syntax_error(P, e->loc, "expression is nested too deeply (more than %d levels)", FE_MAX_DEPTH);
}

static void enter(Parser *P) {
  if (++P->depth > FE_MAX_DEPTH)
    syntax_error(P, cur(P)->loc, "expression is nested too deeply (more than %d levels)", FE_MAX_DEPTH);
}

static Expr *new_binary(Parser *P, BinOp op, Loc loc, Expr *l, Expr *r) {
  Expr *e = new_expr(P, EX_BINARY, loc);
  e->op = op;
  e->lhs = l;
  e->rhs = r;
  set_depth(P, e, l->depth > r->depth ? l->depth : r->depth);
  return e;
}

/* args = (arg ("," arg)* ","?)? ")"
 * arg  = IDENT ":" expr | expr
 * Called after "("; `first` is the value piped in, if any. */
static void parse_args(Parser *P, Expr *call, Expr *first) {
  int cap = 0, n = 0;
  Arg *args = NULL;
  if (first) {
    ARENA_GROW(P->a, args, n, cap, 4);
    args[n++] = (Arg){.val = first};
  }
  bool keyword_seen = false;
  skip_nl(P);
  while (!is(P, ")")) {
    Arg arg = {0};
    if (cur(P)->kind == TK_IDENT && lex_is(ahead(P, 1), ":")) {
      arg.key = tok_str(P, cur(P));
      arg.keyloc = cur(P)->loc;
      advance(P);
      advance(P);
      skip_nl(P);
      keyword_seen = true;
    } else if (cur(P)->kind == TK_IDENT && lex_is(ahead(P, 1), "=")) {
      /* Python's and Keras's spelling, dense(x, units=64) */
      syntax_error(P, ahead(P, 1)->loc, "keyword arguments are written '%.*s: value', not '%.*s=value'",
                   cur(P)->len, cur(P)->text, cur(P)->len, cur(P)->text);
    } else if (keyword_seen) {
      syntax_error(P, cur(P)->loc, "positional argument after a keyword argument");
    }
    arg.val = parse_expr(P);
    ARENA_GROW(P->a, args, n, cap, 4);
    args[n++] = arg;
    skip_nl_before(P, ")");
    if (!accept(P, ",")) break;
    skip_nl(P);
  }
  expect(P, ")");
  call->args = args;
  call->nargs = n;
  int dmax = 0;
  for (int i = 0; i < n; i++)
    if (args[i].val->depth > dmax) dmax = args[i].val->depth;
  set_depth(P, call, dmax);
}

/* call = IDENT "(" args   (the IDENT already consumed) */
static Expr *parse_call(Parser *P, Token *name, Expr *first) {
  Expr *e = new_expr(P, EX_CALL, name->loc);
  e->name = tok_str(P, name);
  e->piped = first != NULL;
  parse_args(P, e, first);
  return e;
}

/* list = "[" (expr ("," expr)* ","?)? "]" */
static Expr *parse_list(Parser *P) {
  Expr *e = new_expr(P, EX_LIST, expect(P, "[")->loc);
  int cap = 0, dmax = 0;
  skip_nl(P);
  while (!is(P, "]")) {
    Expr *it = parse_expr(P);
    ARENA_GROW(P->a, e->items, e->nitems, cap, 4);
    e->items[e->nitems++] = it;
    if (it->depth > dmax) dmax = it->depth;
    skip_nl_before(P, "]");
    if (!accept(P, ",")) break;
    skip_nl(P);
  }
  expect(P, "]");
  set_depth(P, e, dmax);
  return e;
}

/* primary = NUM | STRING | IDENT | call | list | "(" expr ")" */
static Expr *parse_primary(Parser *P) {
  Token *t = cur(P);
  if (t->kind == TK_NUM) {
    Expr *e = new_expr(P, EX_NUM, t->loc);
    e->num = t->num;
    e->is_int = t->is_int;
    e->ival = t->ival;
    advance(P);
    return e;
  }
  if (t->kind == TK_STR) {
    Expr *e = new_expr(P, EX_STR, t->loc);
    e->name = t->str;
    advance(P);
    return e;
  }
  if (t->kind == TK_IDENT && !is_keyword(t)) {
    advance(P);
    if (accept(P, "(")) return parse_call(P, t, NULL);
    Expr *e = new_expr(P, EX_NAME, t->loc);
    e->name = tok_str(P, t);
    return e;
  }
  if (accept(P, "(")) {
    skip_nl(P);
    Expr *e = parse_expr(P);
    skip_nl_before(P, ")");
    expect(P, ")");
    return e;
  }
  if (is(P, "[")) return parse_list(P);
  syntax_error(P, t->loc, "expected an expression, found %s", describe(P, t));
}

/* power = primary ("**" unary)?      right-associative: a ** b ** c = a ** (b ** c)
 * The right operand recurses (like "-" and "("), so it counts as a level. */
static Expr *parse_power(Parser *P) {
  Expr *e = parse_primary(P);
  if (is(P, "**")) {
    Loc loc = cur(P)->loc;
    advance(P);
    skip_nl(P);
    enter(P);
    Expr *rhs = parse_unary(P);
    P->depth--;
    e = new_binary(P, BIN_POW, loc, e, rhs);
  }
  return e;
}

/* unary = "-" unary | power          so -x ** 2 = -(x ** 2), as in Python */
static Expr *parse_unary(Parser *P) {
  if (is(P, "-")) {
    Loc loc = cur(P)->loc;
    advance(P);
    enter(P);
    Expr *e = new_expr(P, EX_NEG, loc);
    e->lhs = parse_unary(P);
    P->depth--;
    set_depth(P, e, e->lhs->depth);
    return e;
  }
  return parse_power(P);
}

/* matmul = unary ("@" unary)*        binds tighter than * and / */
static Expr *parse_matmul(Parser *P) {
  Expr *e = parse_unary(P);
  while (is(P, "@")) {
    Loc loc = cur(P)->loc;
    advance(P);
    skip_nl(P);
    e = new_binary(P, BIN_MATMUL, loc, e, parse_unary(P));
  }
  return e;
}

/* mul = matmul (("*" | "/") matmul)* */
static Expr *parse_mul(Parser *P) {
  Expr *e = parse_matmul(P);
  for (;;) {
    BinOp op;
    if (is(P, "*")) op = BIN_MUL;
    else if (is(P, "/")) op = BIN_DIV;
    else return e;
    Loc loc = cur(P)->loc;
    advance(P);
    skip_nl(P);
    e = new_binary(P, op, loc, e, parse_matmul(P));
  }
}

/* add = mul (("+" | "-") mul)* */
static Expr *parse_add(Parser *P) {
  Expr *e = parse_mul(P);
  for (;;) {
    BinOp op;
    if (is(P, "+")) op = BIN_ADD;
    else if (is(P, "-")) op = BIN_SUB;
    else return e;
    Loc loc = cur(P)->loc;
    advance(P);
    skip_nl(P);
    e = new_binary(P, op, loc, e, parse_mul(P));
  }
}

/* expr = add ("|>" IDENT ("(" args)?)*
 * `a |> f` is f(a) and `a |> f(b, k: v)` is f(a, b, k: v). A line starting
 * with "|>" continues the expression on the line before. */
static Expr *parse_expr(Parser *P) {
  enter(P);
  Expr *e = parse_add(P);
  for (;;) {
    if (cur(P)->kind == TK_NEWLINE && lex_is(ahead(P, 1), "|>")) advance(P);
    if (!is(P, "|>")) break;
    advance(P);
    skip_nl(P);
    Token *name = cur(P);
    if (name->kind != TK_IDENT || is_keyword(name))
      syntax_error(P, name->loc, "expected a function name after '|>', found %s", describe(P, name));
    advance(P);
    if (accept(P, "(")) {
      e = parse_call(P, name, e);
    } else {
      Expr *c = new_expr(P, EX_CALL, name->loc);
      c->name = tok_str(P, name);
      c->piped = true;
      c->args = arena_alloc(P->a, sizeof *c->args);
      c->args[0] = (Arg){.val = e};
      c->nargs = 1;
      set_depth(P, c, e->depth);
      e = c;
    }
  }
  P->depth--;
  return e;
}

/* ---- types ---- */

/* type = dtype "[" (dim ("," dim)*)? "]"     (dtype: the IR's, nnrt_dtypes.def)
 * dim  = INT | IDENT */
static void parse_type(Parser *P, TypeExpr *ty) {
  Token *t = cur(P);
  ty->loc = t->loc;
  char list[IR_DTYPE_LISTLEN];
  if (t->kind != TK_IDENT) syntax_error(P, t->loc, "expected a type like f32[B, 784], found %s", describe(P, t));
  else if (!ir_dtype_lookup(t->text, (size_t)t->len, &ty->dt))
    syntax_error(P, t->loc, "unknown element type %s (expected %s)", describe(P, t), ir_dtype_list(list, sizeof list));
  advance(P);
  expect(P, "[");
  while (!is(P, "]")) {
    Token *d = cur(P);
    if (ty->rank == IR_MAX_RANK) syntax_error(P, d->loc, "too many dimensions (at most %d)", IR_MAX_RANK);
    DimExpr *dim = &ty->dims[ty->rank++];
    dim->loc = d->loc;
    if (d->kind == TK_NUM && d->is_int) {
      if (d->ival <= 0) syntax_error(P, d->loc, "a dimension must be positive, got %lld", (long long)d->ival);
      if (d->ival > INT32_MAX) syntax_error(P, d->loc, "dimension %lld is too large", (long long)d->ival);
      dim->size = d->ival;
    } else if (d->kind == TK_IDENT && !is_keyword(d)) {
      dim->sym = tok_str(P, d);
    } else {
      syntax_error(P, d->loc, "expected a dimension (a positive integer or a name), found %s", describe(P, d));
    }
    advance(P);
    if (!accept(P, ",")) break;
  }
  expect(P, "]");
  ty->ok = true;
}

/* ---- statements ---- */

static void push_stmt(Parser *P, const Stmt *s) {
  ARENA_GROW(P->a, *P->body, *P->nbody, *P->bodycap, 16);
  (*P->body)[(*P->nbody)++] = *s;
}

static void push_item(Parser *P, const TrainItem *it) {
  Program *g = P->prog;
  ARENA_GROW(P->a, g->train, g->ntrain, g->traincap, 8);
  g->train[g->ntrain++] = *it;
}

/* Skips to the end of the statement that failed: a newline or ';' (eaten),
 * or a '}' or the end of file (left for the block loop). */
static void sync(Parser *P) {
  for (;;) {
    Token *t = cur(P);
    if (t->kind == TK_EOF || lex_is(t, "}")) return;
    advance(P);
    if (t->kind == TK_NEWLINE || lex_is(t, ";")) return;
  }
}

/* A statement ends at a newline, ';', before '}', or at the end of file. */
static void end_stmt(Parser *P) {
  Token *t = cur(P);
  if (t->kind == TK_NEWLINE || lex_is(t, ";")) advance(P);
  else if (t->kind != TK_EOF && !lex_is(t, "}"))
    syntax_error(P, t->loc, "expected the end of the statement, found %s", describe(P, t));
}

static void parse_block(Parser *P, void (*item)(Parser *), const char *what);
static void parse_stmt(Parser *P);

/* Runs fn under its own recovery point: false after a syntax error in it
 * (reported), with the tokens where the error stopped. For block headers,
 * whose body is still parsed after an error. */
static bool try_parse(Parser *P, void (*fn)(Parser *, void *), void *arg) {
  jmp_buf jb, *outer = P->jb;
  volatile bool ok = false;
  P->jb = &jb;
  if (setjmp(jb) == 0) {
    fn(P, arg);
    ok = true;
  }
  P->jb = outer;
  return ok;
}

/* After an error in a block's header: skips to its '{' (on the same line
 * only, for a repeat inside a block) and eats it; false if there is none. */
static bool skip_to_brace(Parser *P, bool same_line) {
  while (cur(P)->kind != TK_EOF && !is(P, "{") && !(same_line && cur(P)->kind == TK_NEWLINE)) advance(P);
  return accept(P, "{");
}

/* Parses statements up to the closing '}' into *list (the '{' eaten). */
static void parse_body(Parser *P, Stmt **list, int *n, const char *what) {
  Stmt **body = P->body;
  int *nbody = P->nbody, *cap = P->bodycap, mycap = 0;
  P->body = list, P->nbody = n, P->bodycap = &mycap;
  parse_block(P, parse_stmt, what);
  P->body = body, P->nbody = nbody, P->bodycap = cap;
  P->has_pending = false; /* the last inner statement's, pushed already */
}

/* repeat_header = "repeat" expr ("as" IDENT)? "{" */
static void parse_repeat_header(Parser *P, void *arg) {
  Stmt *rep = arg;
  advance(P);
  rep->expr = parse_expr(P);
  if (accept(P, "as")) {
    Token *name = expect_name(P, "a name for the repeat's index");
    rep->name = tok_str(P, name);
    rep->nameloc = name->loc;
  }
  expect(P, "{");
}

/* repeat = repeat_header stmt* "}"     the body runs N times in place */
static void parse_repeat(Parser *P) {
  Stmt *rep = arena_alloc(P->a, sizeof *rep);
  rep->kind = ST_REPEAT;
  rep->loc = cur(P)->loc;
  if (P->repeat_depth >= 16) syntax_error(P, rep->loc, "repeat blocks are nested too deeply (at most 16)");
  bool ok = try_parse(P, parse_repeat_header, rep);
  /* still parse a body on this line, so that its '}' does not end the enclosing block */
  if (!ok && !skip_to_brace(P, true)) return;
  P->repeat_depth++;
  parse_body(P, &rep->body, &rep->nbody, "repeat");
  P->repeat_depth--;
  if (ok) push_stmt(P, rep);
}

/* stmt = "input" IDENT ":" type
 *      | "param" IDENT ":" type "=" expr
 *      | "output" expr
 *      | "minimize" expr
 *      | IDENT ("," IDENT)* "=" expr
 *      | repeat
 *      | "return" expr ("," expr)*          (a def's last statement) */
static void parse_stmt(Parser *P) {
  Token *t = cur(P);
  Stmt *s = &P->pending;
  memset(s, 0, sizeof *s);
  s->loc = t->loc;
  if (P->in_def && (lex_is(t, "input") || lex_is(t, "output") || lex_is(t, "minimize")))
    syntax_error(P, t->loc, "a def cannot have '%.*s' statements (%s)", t->len, t->text,
                 lex_is(t, "input") ? "pass the tensor in as an argument" : "it gives its values with 'return'");
  if (P->repeat_depth && (lex_is(t, "input") || lex_is(t, "output") || lex_is(t, "minimize")))
    syntax_error(P, t->loc, "'%.*s' cannot be repeated: write it outside the repeat", t->len, t->text);
  if (lex_is(t, "repeat")) {
    parse_repeat(P);
  } else if (lex_is(t, "return")) {
    if (!P->in_def) syntax_error(P, t->loc, "'return' belongs at the end of a def");
    if (P->repeat_depth) syntax_error(P, t->loc, "a def returns at its end, not inside a repeat");
    s->kind = ST_RETURN;
    advance(P);
    P->has_pending = true;
    int cap = 0;
    do {
      skip_nl(P);
      Expr *e = parse_expr(P);
      ARENA_GROW(P->a, s->rets, s->nrets, cap, 4);
      s->rets[s->nrets++] = e;
    } while (accept(P, ","));
  } else if (t->kind == TK_IDENT && lex_is(ahead(P, 1), ",")) {
    s->kind = ST_LET;
    int cap = 0, loccap = 0;
    do {
      Token *name = expect_name(P, "a name to bind");
      ARENA_GROW(P->a, s->names, s->nnames, cap, 4);
      ARENA_GROW(P->a, s->namelocs, s->nnames, loccap, 4);
      s->names[s->nnames] = tok_str(P, name);
      s->namelocs[s->nnames++] = name->loc;
    } while (accept(P, ","));
    s->name = s->names[0];
    s->nameloc = s->namelocs[0];
    P->has_pending = true;
    expect(P, "=");
    skip_nl(P);
    s->expr = parse_expr(P);
  } else if (lex_is(t, "input") || lex_is(t, "param")) {
    bool param = lex_is(t, "param");
    s->kind = param ? ST_PARAM : ST_INPUT;
    advance(P);
    Token *name = expect_name(P, param ? "a parameter name" : "an input name");
    s->name = tok_str(P, name);
    s->nameloc = name->loc;
    P->has_pending = true;
    expect(P, ":");
    parse_type(P, &s->type);
    if (param) {
      expect(P, "=");
      s->expr = parse_expr(P);
    }
  } else if (lex_is(t, "output") || lex_is(t, "minimize")) {
    s->kind = lex_is(t, "output") ? ST_OUTPUT : ST_MINIMIZE;
    advance(P);
    P->has_pending = true;
    s->expr = parse_expr(P);
  } else if (t->kind == TK_IDENT && lex_is(ahead(P, 1), "=")) {
    s->kind = ST_LET;
    s->name = tok_str(P, t);
    s->nameloc = t->loc;
    advance(P);
    advance(P);
    P->has_pending = true;
    skip_nl(P);
    s->expr = parse_expr(P);
  } else if (t->kind == TK_IDENT) {
    const char *word = tok_str(P, t);
    const char *near = fe_suggest(word, stmt_words, (int)(sizeof stmt_words / sizeof *stmt_words));
    if (near) syntax_error(P, t->loc, "unknown statement '%s'; did you mean '%s'?", word, near);
    syntax_error(P, ahead(P, 1)->loc, "expected '=' after '%s', found %s", word, describe(P, ahead(P, 1)));
  } else {
    syntax_error(P, t->loc, "expected a statement (input, param, NAME = ..., output or minimize), found %s",
                 describe(P, t));
  }
  end_stmt(P);
}

/* train_item = IDENT expr */
static void parse_train_item(Parser *P) {
  TrainItem *it = &P->pending_item;
  Token *key = expect_name(P, "a train setting (optimizer, batch, epochs, data or seed)");
  *it = (TrainItem){.key = tok_str(P, key), .loc = key->loc};
  P->has_pending_item = true;
  it->val = parse_expr(P);
  end_stmt(P);
}

/* Runs one statement parser under a recovery point. The pending statement
 * is kept even when it failed, with an error value where it had a name. */
static void guarded(Parser *P, void (*fn)(Parser *)) {
  jmp_buf jb, *outer = P->jb;
  P->jb = &jb;
  P->depth = 0;
  P->has_pending = P->has_pending_item = false;
  if (setjmp(jb) == 0) {
    fn(P);
  } else {
    Expr *err = new_expr(P, EX_ERROR, cur(P)->loc);
    P->pending.expr = err;
    P->pending.type.ok = false;
    P->pending_item.val = NULL;
    sync(P);
  }
  P->jb = outer;
  if (P->has_pending) push_stmt(P, &P->pending);
  if (P->has_pending_item) push_item(P, &P->pending_item);
}

/* Skips newlines and stray ';' between statements. */
static void skip_blank(Parser *P) {
  while (cur(P)->kind == TK_NEWLINE || is(P, ";")) advance(P);
}

/* block = "{" (item (NEWLINE | ";"))* "}"       after the block's header */
static void parse_block(Parser *P, void (*item)(Parser *), const char *what) {
  for (;;) {
    skip_blank(P);
    Token *t = cur(P);
    if (accept(P, "}")) return;
    if (t->kind == TK_EOF) {
      diag_error(P->d, t->loc, "expected '}' at the end of the %s block", what);
      return;
    }
    /* A block keyword here means the '}' before it is missing: stop, so
     * the next block still parses. */
    if (lex_is(t, "model") || lex_is(t, "train") || lex_is(t, "def")) {
      diag_error(P->d, t->loc, "expected '}' before '%.*s'", t->len, t->text);
      return;
    }
    guarded(P, item);
  }
}

/* header = "model" IDENT "{" | "train" "{"
 * On an error skips to the '{' so that the block's statements are still
 * checked. Returns the model's name token (NULL for train or on error). */
typedef struct Header {
  bool model;
  Token *name;
} Header;

static void parse_header_tokens(Parser *P, void *arg) {
  Header *h = arg;
  advance(P); /* the keyword */
  if (h->model) h->name = expect_name(P, "a model name");
  skip_nl(P);
  expect(P, "{");
}

static Token *parse_header(Parser *P, bool model) {
  Header h = {.model = model};
  if (!try_parse(P, parse_header_tokens, &h)) skip_to_brace(P, false);
  return h.name;
}

/* model = header (stmt (NEWLINE | ";"))* "}" */
static void parse_model(Parser *P) {
  Token *kw = cur(P);
  Program *main = P->prog, scratch = {0};
  if (main->has_model) {
    /* Still parsed, into a scratch program, so its syntax errors show. */
    diag_error(P->d, kw->loc, "a file holds one model; this is a second one");
    P->prog = &scratch;
  }
  Token *name = parse_header(P, true);
  if (P->prog == main) {
    main->has_model = true;
    main->loc = kw->loc;
    main->name = name ? tok_str(P, name) : "model";
  }
  parse_body(P, &P->prog->stmts, &P->prog->nstmts, "model");
  P->prog = main;
}

/* train = header (IDENT expr (NEWLINE | ";"))* "}" */
static void parse_train(Parser *P) {
  Token *kw = cur(P);
  Program *main = P->prog, scratch = {0};
  if (main->has_train) {
    diag_error(P->d, kw->loc, "a file holds one train block; this is a second one");
    P->prog = &scratch;
  } else {
    main->has_train = true;
    main->trainloc = kw->loc;
  }
  parse_header(P, false);
  parse_block(P, parse_train_item, "train");
  P->prog = main;
}

/* def_header = "def" IDENT "(" (IDENT ("=" expr)? ("," ...)*)? ")" "{" */
static void parse_def_header(Parser *P, void *arg) {
  Def *df = arg;
  advance(P);
  Token *name = expect_name(P, "a def name");
  df->name = tok_str(P, name);
  df->loc = name->loc;
  expect(P, "(");
  int cap = 0;
  skip_nl(P);
  while (!is(P, ")")) {
    Token *pn = expect_name(P, "a parameter name");
    ARENA_GROW(P->a, df->params, df->nparams, cap, 4);
    DefParam *prm = &df->params[df->nparams++];
    *prm = (DefParam){.name = tok_str(P, pn), .loc = pn->loc};
    if (accept(P, "=")) prm->def = parse_expr(P);
    skip_nl_before(P, ")");
    if (!accept(P, ",")) break;
    skip_nl(P);
  }
  expect(P, ")");
  skip_nl(P);
  expect(P, "{");
}

/* def = def_header stmt* "}"     the body ends with its one return */
static void parse_def(Parser *P) {
  Def *df = arena_alloc(P->a, sizeof *df);
  if (!try_parse(P, parse_def_header, df) && !skip_to_brace(P, false)) return;
  P->in_def = df;
  parse_body(P, &df->body, &df->nbody, "def");
  P->in_def = NULL;
  if (!df->name) return;
  /* A def with a bad return is still registered, with no values: its
   * calls then fail without a second message. */
  bool early = false;
  for (int i = 0; i + 1 < df->nbody && !early; i++)
    if ((early = df->body[i].kind == ST_RETURN))
      diag_error(P->d, df->body[i + 1].loc, "a def ends at its 'return'; this statement comes after it");
  const Stmt *last = df->nbody ? &df->body[df->nbody - 1] : NULL;
  if (early) {
  } else if (!last || last->kind != ST_RETURN) {
    diag_error(P->d, df->loc, "def '%s' has no 'return' at its end (it gives its values with return a, b)",
               df->name);
  } else if (!last->expr) { /* else a syntax error in it, reported: nrets stays 0 */
    df->nrets = last->nrets;
  }
  ARENA_GROW(P->a, P->prog->defs, P->prog->ndefs, P->prog->defcap, 4);
  P->prog->defs[P->prog->ndefs++] = *df;
}

/* program = (model | train | def)* EOF */
Program *parse_program(Arena *a, Diag *d, Token *toks, int ntok) {
  Parser P = {.a = a, .d = d, .toks = toks, .ntok = ntok};
  int errors0 = d->nerrors;
  P.prog = arena_alloc(a, sizeof *P.prog);
  for (;;) {
    skip_blank(&P);
    Token *t = cur(&P);
    if (t->kind == TK_EOF) break;
    if (lex_is(t, "model")) {
      parse_model(&P);
    } else if (lex_is(t, "def")) {
      parse_def(&P);
    } else if (lex_is(t, "train")) {
      parse_train(&P);
    } else {
      if (t->kind != TK_BAD)
        diag_error(d, t->loc, "expected a 'model', 'train' or 'def' block, found %s", describe(&P, t));
      /* Resume at the next block keyword. */
      do advance(&P);
      while (cur(&P)->kind != TK_EOF && !is(&P, "model") && !is(&P, "train") && !is(&P, "def"));
    }
  }
  if (!P.prog->has_model) {
    Loc start = {toks[0].loc.file, 1, 1};
    diag_error(d, start, "no model in this file (expected 'model NAME { ... }')");
  }
  P.prog->syntax_errors = d->nerrors > errors0;
  return P.prog;
}
