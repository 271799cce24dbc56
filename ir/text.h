/* text.h — internal to the IR text format (text_print.c, text_lex.c,
 * text_parse.c): what the two directions must agree on, and the lexer the
 * parser runs on; verify.c takes the name rules from here too. Nothing
 * outside ir/ includes it; the public entry points (ir_print_module,
 * ir_parse) are in ir.h.
 *
 * Sections: keywords (text_print.c) · names · lexer (text_lex.c). */
#ifndef NNC_IR_TEXT_H
#define NNC_IR_TEXT_H
#include <setjmp.h>

#include "ir.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- keywords (text_print.c) ---- */

/* One copy of each keyword table for both directions, so that what the
 * printer writes is what the parser reads. Indexed by OptKind, NNRT_TASK_*,
 * NNRT_INIT_*. */
extern const char *const ir_text_opt_names[4];
extern const char *const ir_text_task_names[4];
extern const char *const ir_text_output_loss_names[2];
extern const char *const ir_text_init_names[9];
/* How many numbers each initialiser carries: init_a, then init_b. */
extern const int ir_text_init_nargs[9];

/* ---- names ---- */

/* A name is [A-Za-z_][A-Za-z0-9_.]*; after a sigil (%v, @g) it may also
 * start with a digit or '.'. The printer repairs value names that would not
 * read back; the verifier requires module, sym, global and function names
 * to be names. */
static inline bool irt_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool irt_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static inline bool irt_ident_char(char c) { return irt_ident_start(c) || irt_digit(c) || c == '.'; }

/* ---- lexer (text_lex.c) ---- */

typedef enum { TK_EOF, TK_IDENT, TK_VALUE, TK_GLOBAL, TK_NUM, TK_STR, TK_PUNCT } IrTokKind;

typedef struct IrTok {
  IrTokKind kind;
  const char *s; /* TK_VALUE, TK_GLOBAL: the name after the sigil */
  int len;
  Loc loc;
} IrTok;

/* The lexer's state: the text, the current token, and where an error goes.
 * The first error is reported through d with file:line:col and unwinds to
 * `fail` (set by ir_parse), so no error path is threaded through the
 * descent. */
typedef struct IrLexer {
  Diag *d;
  Arena *arena;
  const char *file, *p, *end, *line_start;
  int line;
  IrTok tok;
  jmp_buf fail;
} IrLexer;

/* Sets up X on text[0..len) (no NUL needed) without reading a token. */
void irt_init(IrLexer *X, Arena *a, Diag *d, const char *path, const char *text, size_t len);
/* Reads the next token into X->tok. */
void irt_lex(IrLexer *X);
_Noreturn void irt_error(IrLexer *X, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "expected <what>, got <the current token>". */
_Noreturn void irt_expected(IrLexer *X, const char *what);

/* Whether the current token is the punctuation or identifier s. */
bool irt_is(const IrLexer *X, const char *s);
/* Takes the current token if it is s. */
bool irt_consume(IrLexer *X, const char *s);
/* Takes the current token, which must be s. */
void irt_expect(IrLexer *X, const char *s);
/* Takes the current token, which must be of kind k (else: expected `what`). */
IrTok irt_take(IrLexer *X, IrTokKind k, const char *what);

char *irt_tok_str(IrLexer *X, const IrTok *t);
bool irt_tok_eq(const IrTok *t, const char *s);

/* int = [-]? digit+, in [lo, hi] ("<what> must be between ..." if not). */
int64_t irt_int(IrLexer *X, int64_t lo, int64_t hi, const char *what);
/* number = NUM | "inf" | "nan"   (anything strtod reads whole) */
double irt_number(IrLexer *X);
/* seed = digit+, a uint64. */
uint64_t irt_uint64(IrLexer *X, const char *what);
/* The contents of a TK_STR token, escapes decoded; NULL for "". */
const char *irt_string(IrLexer *X, const IrTok *t);
/* Takes an identifier that must be one of tab[0..n); returns its index. */
int irt_keyword(IrLexer *X, const char *const *tab, int n, const char *what);

#endif
