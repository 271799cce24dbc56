/* lex.c — splits .nn source into tokens.
 *
 * Every token carries its Loc (file, 1-based line and column in bytes) and
 * its byte offset, so any later stage can point at it. Newlines are tokens:
 * they end statements. A run of blank lines and comments gives one
 * TK_NEWLINE, so the parser never sees two in a row. Lexical errors are
 * reported and skipped; the token array is always well formed and ends with
 * TK_EOF. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

typedef struct Lexer {
  Arena *a;
  Diag *d;
  const char *file, *text;
  size_t len, pos;
  int line;
  size_t line_start; /* offset of the current line's first byte */
  Token *toks;
  int n, cap;
} Lexer;

/* Longest first, so that "**" wins over "*" and "|>" is one token. */
static const char *const puncts[] = {"|>", "->", "**", "(", ")", "[", "]", "{", "}", ",",
                                     ":",  ";",  "=",  "+", "-", "*", "/", "@"};

static Loc loc_at(const Lexer *L, size_t pos) {
  return (Loc){L->file, L->line, (int)(pos - L->line_start) + 1};
}

static Token *push(Lexer *L, TokKind kind, size_t start, size_t end) {
  ARENA_GROW(L->a, L->toks, L->n, L->cap, 256);
  Token *t = &L->toks[L->n++];
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->text = L->text + start;
  t->len = (int)(end - start);
  t->pos = start;
  t->loc = loc_at(L, start);
  return t;
}

static bool is_ident_start(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_ident_char(int c) { return is_ident_start(c) || is_digit(c); }

static int peek(const Lexer *L, size_t k) {
  return L->pos + k < L->len ? (unsigned char)L->text[L->pos + k] : -1;
}

/* number = digits ("." digits?)? (("e"|"E") ("+"|"-")? digits)?  |  "." digits ... */
static void lex_number(Lexer *L) {
  size_t start = L->pos;
  bool is_int = true;
  while (is_digit(peek(L, 0))) L->pos++;
  if (peek(L, 0) == '.') {
    is_int = false;
    L->pos++;
    while (is_digit(peek(L, 0))) L->pos++;
  }
  if (peek(L, 0) == 'e' || peek(L, 0) == 'E') {
    size_t k = 1;
    if (peek(L, 1) == '+' || peek(L, 1) == '-') k = 2;
    if (is_digit(peek(L, k))) {
      is_int = false;
      L->pos += k;
      while (is_digit(peek(L, 0))) L->pos++;
    }
  }
  Token *t = push(L, TK_NUM, start, L->pos);
  /* strtod needs a terminated string; the source may not be. */
  char *buf = arena_strndup(L->a, L->text + start, L->pos - start);
  t->num = strtod(buf, NULL);
  t->is_int = is_int;
  if (is_int) {
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE) diag_error(L->d, t->loc, "integer literal '%s' is too large", buf);
    t->ival = v;
  }
  if (is_ident_char(peek(L, 0))) {
    size_t e = L->pos;
    while (is_ident_char(e < L->len ? (unsigned char)L->text[e] : -1)) e++;
    diag_error(L->d, t->loc, "invalid number '%.*s'", (int)(e - start), L->text + start);
    L->pos = e;
  }
}

/* string = '"' (char | '\' escape)* '"', on one line */
static void lex_string(Lexer *L) {
  size_t start = L->pos++;
  /* The decoded text is no longer than the rest of the line: sized by that,
   * not by the rest of the file (a file of many strings would cost memory
   * quadratic in its length). */
  size_t eol = L->pos;
  while (eol < L->len && L->text[eol] != '\n') eol++;
  char *buf = arena_alloc(L->a, eol - L->pos + 1);
  size_t k = 0;
  bool closed = false;
  while (L->pos < L->len && L->text[L->pos] != '\n') {
    char c = L->text[L->pos++];
    if (c == '"') {
      closed = true;
      break;
    }
    if (c == '\\' && L->pos < L->len && L->text[L->pos] != '\n') {
      char e = L->text[L->pos++];
      c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
    }
    buf[k++] = c;
  }
  /* An unterminated string is a TK_BAD, so the parser does not add a
   * second message about the line it swallowed. */
  Token *t = push(L, closed ? TK_STR : TK_BAD, start, L->pos);
  t->str = buf;
  if (!closed) diag_error(L->d, t->loc, "unterminated string");
}

/* Reports a run of characters that start no token as one error, so that
 * binary garbage gives a few messages rather than one per byte. */
static void lex_bad(Lexer *L) {
  size_t start = L->pos;
  int c = peek(L, 0);
  Loc loc = loc_at(L, start);
  if (c >= 0x21 && c < 0x7f)
    diag_error(L->d, loc, "unexpected character '%c'", c);
  else if (c >= 0x80)
    diag_error(L->d, loc, "unexpected non-ASCII character (byte 0x%02x)", c);
  else
    diag_error(L->d, loc, "unexpected control character (byte 0x%02x)", c);
  /* Skip to something that can start a token or separate them. */
  while (L->pos < L->len) {
    int b = peek(L, 0);
    if (b == ' ' || b == '\t' || b == '\r' || b == '\n' || b == '#' || b == '"' || is_ident_char(b) ||
        (b && strchr("()[]{},:;=+-*/@|.", b)))
      break;
    L->pos++;
  }
  if (L->pos == start) L->pos++;
  push(L, TK_BAD, start, L->pos);
}

Token *lex_tokens(Arena *a, Diag *d, const char *file, const char *text, size_t len, int *ntok) {
  Lexer L = {.a = a, .d = d, .file = file, .text = text, .len = len, .line = 1};
  while (L.pos < L.len) {
    int c = peek(&L, 0);
    if (c == '\n') {
      if (L.n > 0 && L.toks[L.n - 1].kind != TK_NEWLINE) push(&L, TK_NEWLINE, L.pos, L.pos + 1);
      L.pos++;
      L.line++;
      L.line_start = L.pos;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      L.pos++;
    } else if (c == '#') {
      while (L.pos < L.len && L.text[L.pos] != '\n') L.pos++;
    } else if (is_ident_start(c)) {
      size_t s = L.pos;
      while (is_ident_char(peek(&L, 0))) L.pos++;
      push(&L, TK_IDENT, s, L.pos);
    } else if (is_digit(c) || (c == '.' && is_digit(peek(&L, 1)))) {
      lex_number(&L);
    } else if (c == '"') {
      lex_string(&L);
    } else {
      const char *p = NULL;
      for (size_t i = 0; i < sizeof puncts / sizeof *puncts && !p; i++) {
        size_t n = strlen(puncts[i]);
        if (L.pos + n <= L.len && !memcmp(L.text + L.pos, puncts[i], n)) p = puncts[i];
      }
      if (p) {
        push(&L, TK_PUNCT, L.pos, L.pos + strlen(p));
        L.pos += strlen(p);
      } else {
        lex_bad(&L);
      }
    }
  }
  /* EOF sits where the last line of code ends (the newline token there),
   * not after trailing comments: that is where "expected '}'" belongs. */
  if (L.n > 0 && L.toks[L.n - 1].kind == TK_NEWLINE) {
    Token nl = L.toks[L.n - 1];
    Token *eof = push(&L, TK_EOF, nl.pos, nl.pos);
    eof->loc = nl.loc;
  } else {
    push(&L, TK_EOF, L.len, L.len);
  }
  *ntok = L.n;
  return L.toks;
}

bool lex_is(const Token *t, const char *s) {
  return (t->kind == TK_PUNCT || t->kind == TK_IDENT) && (size_t)t->len == strlen(s) &&
         !memcmp(t->text, s, (size_t)t->len);
}
