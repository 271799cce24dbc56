/* ast.h — the frontend's internal header: tokens (lex.c), the syntax tree
 * (parse.c) and the helpers both share. The public entry points are in
 * frontend.h; nothing outside frontend/ (and its tests) includes this.
 *
 * Sections: tokens · syntax tree · parser · suggestions. */
#ifndef NNC_FE_AST_H
#define NNC_FE_AST_H
#include <stdbool.h>
#include <stdint.h>

#include "../ir/ir.h"

/* Deeper expressions are rejected with an error: it bounds the recursion of
 * the parser and of lowering, so no input can overflow the stack. */
#define FE_MAX_DEPTH 256

/* ---- tokens (lex.c) ---- */

typedef enum {
  TK_IDENT,   /* relu, x, model (keywords are identifiers; the parser knows them) */
  TK_NUM,     /* 784, 1e-3, 0.5 */
  TK_STR,     /* "fc1" */
  TK_PUNCT,   /* ( ) [ ] { } , : ; = + - * / @ ** |> -> */
  TK_NEWLINE, /* ends a statement (runs of blank lines and comments give one) */
  TK_BAD,     /* characters the lexer rejected (reported): the parser skips
                 the statement without a second message */
  TK_EOF,
} TokKind;

typedef struct Token {
  TokKind kind;
  const char *text; /* points into the source; len bytes */
  int len;
  size_t pos; /* byte offset in the source */
  Loc loc;
  double num;   /* TK_NUM: the value */
  bool is_int;  /* TK_NUM: written without '.' or exponent */
  int64_t ival; /* TK_NUM with is_int */
  const char *str; /* TK_STR: the decoded contents */
} Token;

/* Splits text into tokens, ending with TK_EOF. Lexical errors (a stray
 * character, an unterminated string) are reported through d and skipped, so
 * the parser always gets a well-formed token array. */
Token *lex_tokens(Arena *a, Diag *d, const char *file, const char *text, size_t len, int *ntok);
/* True if t is the punctuation or identifier spelled s. */
bool lex_is(const Token *t, const char *s);

/* ---- syntax tree ---- */

typedef enum {
  EX_ERROR, /* stands for an expression that failed to parse or lower */
  EX_NUM,
  EX_STR,
  EX_NAME,
  EX_LIST,   /* [a, b, ...] */
  EX_NEG,    /* -lhs */
  EX_BINARY, /* lhs op rhs */
  EX_CALL,   /* name(args); `a |> f(k: v)` parses as f(a, k: v) */
} ExprKind;

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_MATMUL, BIN_POW } BinOp;

typedef struct Expr Expr;

typedef struct Arg {
  const char *key; /* NULL: positional */
  Loc keyloc;
  Expr *val;
} Arg;

struct Expr {
  ExprKind kind;
  Loc loc;   /* the operator for EX_BINARY, the callee's name for EX_CALL */
  int depth; /* height of the tree below; bounded by FE_MAX_DEPTH */
  /* EX_NUM */
  double num;
  bool is_int;
  int64_t ival;
  const char *name; /* EX_NAME, EX_CALL's callee, EX_STR's contents */
  BinOp op;         /* EX_BINARY */
  Expr *lhs, *rhs;  /* EX_BINARY; EX_NEG uses lhs */
  Expr **items;     /* EX_LIST */
  int nitems;
  Arg *args; /* EX_CALL */
  int nargs;
  bool piped; /* EX_CALL written as `x |> f`: args[0] came from the pipe */
};

typedef struct DimExpr {
  int64_t size;    /* > 0, or 0 when sym is set */
  const char *sym; /* a symbolic dim like B */
  Loc loc;
} DimExpr;

typedef struct TypeExpr {
  bool ok; /* false: the type failed to parse (already reported) */
  DType dt;
  int rank;
  DimExpr dims[IR_MAX_RANK];
  Loc loc;
} TypeExpr;

typedef enum {
  ST_INPUT,
  ST_PARAM,
  ST_LET,
  ST_OUTPUT,
  ST_MINIMIZE,
  ST_REPEAT, /* repeat N as i { body } */
  ST_RETURN, /* return a, b   (a def's last statement) */
} StmtKind;

typedef struct Stmt Stmt;
struct Stmt {
  StmtKind kind;
  Loc loc; /* the statement's first token */
  const char *name; /* ST_INPUT, ST_PARAM, ST_LET (the first name), ST_REPEAT's index (NULL: none) */
  Loc nameloc;
  TypeExpr type; /* ST_INPUT, ST_PARAM */
  Expr *expr;    /* ST_PARAM's initialiser, ST_LET, ST_OUTPUT, ST_MINIMIZE, ST_REPEAT's count */
  /* ST_LET unpacking a def's values, `a, b = f(x)`: every name (names[0]
   * is name); nnames is 0 for a plain binding. */
  const char **names;
  Loc *namelocs;
  int nnames;
  Stmt *body; /* ST_REPEAT */
  int nbody;
  Expr **rets; /* ST_RETURN */
  int nrets;
};

/* A parameter of a def: a name and maybe a default (a constant). */
typedef struct DefParam {
  const char *name;
  Loc loc;
  Expr *def; /* NULL: required */
} DefParam;

/* def NAME(params) { body; return ... }: expanded in place at each call
 * (lower_def.c). */
typedef struct Def {
  const char *name;
  Loc loc; /* the name */
  DefParam *params;
  int nparams;
  Stmt *body; /* ends with its one ST_RETURN (checked by the parser) */
  int nbody;
  int nrets; /* values the return gives; 0 after a syntax error in it */
} Def;

/* One `key value` line of the train block; checked by lowering. */
typedef struct TrainItem {
  const char *key;
  Loc loc;
  Expr *val;
} TrainItem;

typedef struct Program {
  bool has_model;
  const char *name; /* the model's name */
  Loc loc;          /* the `model` keyword */
  Stmt *stmts;
  int nstmts;
  bool has_train;
  Loc trainloc;
  TrainItem *train;
  int ntrain, traincap;
  Def *defs; /* in source order */
  int ndefs, defcap;
  /* Lexical or syntax errors were reported: checks about what is missing
   * (no output, an unused input) are skipped, since the statement that
   * failed to parse may have been it. */
  bool syntax_errors;
} Program;

/* ---- parser (parse.c) ---- */

/* Parses a token array from lex_tokens. Syntax errors are reported and the
 * parser resumes at the next statement; a statement that failed keeps what
 * it could (a binding's name, with an EX_ERROR value) so that lowering does
 * not report follow-on errors about it. Never returns NULL. */
Program *parse_program(Arena *a, Diag *d, Token *toks, int ntok);
/* Writes an expression as an S-expression, e.g. (+ x (@ a b)): for tests
 * and debugging (ast_print.c). */
void parse_print_expr(FILE *out, const Expr *e);

/* ---- suggestions (suggest.c) ---- */

/* The candidate a misspelt or Keras-spelt name most likely meant, or NULL:
 * Keras's spelling of an nnc name (kernel_size: kernel, LSTM: lstm) when
 * that name is a candidate; else a candidate one typo away (see suggest.c
 * for what counts, and why short names get less). A known Keras name with
 * no candidate of its spelling gets no suggestion: mae is not max. */
const char *fe_suggest(const char *name, const char *const *cands, int ncands);

#endif
