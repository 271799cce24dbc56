/* text_lex.c — the lexer of the IR text format (text.h), and the readers of
 * single tokens (numbers, strings, keywords) that text_parse.c builds on.
 *
 * Nothing here may crash on any input: the lexer works on (text, len),
 * never on NUL termination, numbers are copied into a bounded buffer before
 * strto*, and messages cut long tokens short. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

void irt_init(IrLexer *X, Arena *a, Diag *d, const char *path, const char *text, size_t len) {
  X->d = d;
  X->arena = a;
  X->line = 1;
  X->file = diag_source(d, path ? path : "<input>", text ? text : "", text ? len : 0);
  X->p = X->line_start = text ? text : "";
  X->end = X->p + (text ? len : 0);
}

_Noreturn void irt_error(IrLexer *X, Loc loc, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_error(X->d, loc, "%s", msg);
  longjmp(X->fail, 1);
}

static Loc here(const IrLexer *X) { return (Loc){X->file, X->line, (int)(X->p - X->line_start) + 1}; }

/* Blanks, newlines and `#` comments (FileCheck's lines live in those). */
static void skip_space(IrLexer *X) {
  while (X->p < X->end) {
    char c = *X->p;
    if (c == '\n') {
      X->p++;
      X->line++;
      X->line_start = X->p;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      X->p++;
    } else if (c == '#') {
      while (X->p < X->end && *X->p != '\n')
        X->p++;
    } else {
      return;
    }
  }
}

/* token  = ident | "%" name | "@" name | number | string | punct
 * ident  = [A-Za-z_] [A-Za-z0-9_.]*
 * name   = [A-Za-z0-9_.]+
 * number = [+-]? (digit | ".") (ident_char | [+-] after e/E)*  (checked by strtod)
 *        | [+-] ("inf" | "nan")   (an unsigned inf/nan lexes as an ident)
 * string = '"' (char | "\" char)* '"'   (on one line; decoded by irt_string)
 * punct  = "->" | one of ( ) [ ] { } , : = */
void irt_lex(IrLexer *X) {
  skip_space(X);
  IrTok t = {.loc = here(X), .s = X->p};
  const char *p = X->p, *e = X->end;
  if (p >= e) {
    t.kind = TK_EOF;
  } else if (irt_ident_start(*p)) {
    t.kind = TK_IDENT;
    while (p < e && irt_ident_char(*p))
      p++;
  } else if (*p == '%' || *p == '@') {
    t.kind = *p == '%' ? TK_VALUE : TK_GLOBAL;
    t.s = ++p;
    while (p < e && irt_ident_char(*p))
      p++;
    if (p == t.s) irt_error(X, t.loc, "expected a name after '%c'", p[-1]);
  } else if (irt_digit(*p) || *p == '.' ||
             ((*p == '-' || *p == '+') && p + 1 < e &&
              (irt_digit(p[1]) || p[1] == '.' || p[1] == 'i' || p[1] == 'n'))) {
    t.kind = TK_NUM;
    p++;
    while (p < e && (irt_ident_char(*p) || ((*p == '-' || *p == '+') && (p[-1] == 'e' || p[-1] == 'E'))))
      p++;
  } else if (*p == '"') {
    t.kind = TK_STR;
    for (p++;; p++) {
      bool esc = p < e && *p == '\\';
      if (esc) p++; /* the escaped character is checked like any other */
      if (p >= e || *p == '\n') irt_error(X, t.loc, "unterminated string");
      if ((unsigned char)*p < 0x20) irt_error(X, t.loc, "control character in a string (write it as \\x..)");
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
    if (c > 0x20 && c < 0x7f) irt_error(X, t.loc, "unexpected character '%c'", c);
    irt_error(X, t.loc, "unexpected byte 0x%02x", c);
  }
  t.len = (int)(p - t.s);
  X->p = p;
  X->tok = t;
}

/* "'text'" for messages, cut short: tokens can be long. */
static const char *describe(const IrTok *t, char *buf, size_t n) {
  if (t->kind == TK_EOF) return "end of file";
  const char *sigil = t->kind == TK_VALUE ? "%" : t->kind == TK_GLOBAL ? "@" : "";
  snprintf(buf, n, "'%s%.*s%s'", sigil, t->len > 40 ? 40 : t->len, t->s, t->len > 40 ? "..." : "");
  return buf;
}

_Noreturn void irt_expected(IrLexer *X, const char *what) {
  char b[64];
  irt_error(X, X->tok.loc, "expected %s, got %s", what, describe(&X->tok, b, sizeof b));
}

bool irt_is(const IrLexer *X, const char *s) {
  return (X->tok.kind == TK_PUNCT || X->tok.kind == TK_IDENT) && irt_tok_eq(&X->tok, s);
}

bool irt_consume(IrLexer *X, const char *s) {
  if (!irt_is(X, s)) return false;
  irt_lex(X);
  return true;
}

void irt_expect(IrLexer *X, const char *s) {
  if (irt_consume(X, s)) return;
  char what[32];
  snprintf(what, sizeof what, "'%s'", s);
  irt_expected(X, what);
}

IrTok irt_take(IrLexer *X, IrTokKind k, const char *what) {
  if (X->tok.kind != k) irt_expected(X, what);
  IrTok t = X->tok;
  irt_lex(X);
  return t;
}

char *irt_tok_str(IrLexer *X, const IrTok *t) { return arena_strndup(X->arena, t->s, (size_t)t->len); }

bool irt_tok_eq(const IrTok *t, const char *s) { return t->len == (int)strlen(s) && !memcmp(t->s, s, (size_t)t->len); }

/* ---- numbers ---- */

/* Copies a number token into buf[64] as a C string for strto*; false if the
 * token is no number or too long to be one. */
static bool num_text(const IrTok *t, char *buf) {
  bool ok =
      (t->kind == TK_NUM || (t->kind == TK_IDENT && (irt_tok_eq(t, "inf") || irt_tok_eq(t, "nan")))) && t->len < 64;
  if (ok) memcpy(buf, t->s, (size_t)t->len), buf[t->len] = 0;
  return ok;
}

int64_t irt_int(IrLexer *X, int64_t lo, int64_t hi, const char *what) {
  IrTok t = X->tok;
  char buf[64];
  bool ok = num_text(&t, buf);
  for (int i = 0; ok && i < t.len; i++)
    ok = irt_digit(t.s[i]) || (i == 0 && t.s[i] == '-' && t.len > 1);
  if (!ok) irt_expected(X, what);
  errno = 0;
  long long v = strtoll(buf, NULL, 10);
  if (errno || v < lo || v > hi)
    irt_error(X, t.loc, "%s must be between %lld and %lld", what, (long long)lo, (long long)hi);
  irt_lex(X);
  return v;
}

double irt_number(IrLexer *X) {
  char buf[64], *end;
  if (!num_text(&X->tok, buf)) irt_expected(X, "a number");
  double v = strtod(buf, &end);
  if (*end) irt_error(X, X->tok.loc, "malformed number '%s'", buf);
  irt_lex(X);
  return v;
}

uint64_t irt_uint64(IrLexer *X, const char *what) {
  IrTok t = X->tok;
  char buf[64], *end = buf;
  bool ok = num_text(&t, buf) && irt_digit(buf[0]);
  uint64_t v = 0;
  errno = 0;
  if (ok) v = strtoull(buf, &end, 10);
  if (!ok || errno || *end) irt_error(X, t.loc, "%s must be an integer from 0 to 2^64-1", what);
  irt_lex(X);
  return v;
}

/* ---- strings and keywords ---- */

/* string = '"' (char | "\\" ["\\] | "\\x" hex hex)* '"'  (decoded; "" is NULL) */
const char *irt_string(IrLexer *X, const IrTok *t) {
  char *out = arena_alloc(X->arena, (size_t)t->len), *o = out;
  for (int i = 1; i < t->len - 1; i++) {
    char c = t->s[i];
    if (c == '\\') {
      c = t->s[++i];
      if (c == 'x') {
        int v = 0;
        for (int k = 0; k < 2; k++, i++) {
          char h = i + 1 < t->len - 1 ? t->s[i + 1] : 0;
          int hv = irt_digit(h)             ? h - '0'
                   : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                   : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                            : -1;
          if (hv < 0) irt_error(X, t->loc, "bad \\x escape in a string");
          v = v * 16 + hv;
        }
        c = (char)v;
        if (!c) irt_error(X, t->loc, "a string cannot hold \\x00");
      } else if (c != '"' && c != '\\') {
        irt_error(X, t->loc, "unknown escape '\\%c' in a string", c);
      }
    }
    *o++ = c;
  }
  return o == out ? NULL : out;
}

int irt_keyword(IrLexer *X, const char *const *tab, int n, const char *what) {
  IrTok t = irt_take(X, TK_IDENT, what);
  for (int i = 0; i < n; i++)
    if (irt_tok_eq(&t, tab[i])) return i;
  irt_error(X, t.loc, "unknown %s '%.*s'", what, t.len > 40 ? 40 : t.len, t.s);
}
