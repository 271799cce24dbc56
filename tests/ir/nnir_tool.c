/* nnir_tool.c — parse, verify and print a .nnir file: the driver of the IR
 * golden tests (the text-format half of `nnc opt`, with no passes).
 *
 *   nnir_tool [--dot] [--roundtrip] [--split-input-file] file.nnir
 *
 * Prints the module (or its Graphviz graph with --dot) on stdout; errors go
 * to stderr and make the exit status 1.
 *   --roundtrip         instead of printing, checks that printing is a fixed
 *                       point: print(parse(x)) == print(parse(print(parse(x)))).
 *   --split-input-file  treats each part between lines "# -----" as its own
 *                       module (MLIR's convention, so that one file can hold
 *                       many error cases). Each part is parsed with the other
 *                       parts blanked out, so line numbers stay those of the
 *                       whole file and FileCheck's [[@LINE]] works. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

static char *read_all(FILE *f, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (size_t k; buf && (k = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += k;
    if (n == cap) buf = realloc(buf, cap *= 2);
  }
  if (!buf) {
    fprintf(stderr, "nnir_tool: out of memory\n");
    exit(2);
  }
  *len = n;
  return buf;
}

/* The printed module as a malloc'd string: tmpfile() is standard C, unlike
 * open_memstream. */
static char *print_to_string(const IrModule *m, size_t *len) {
  FILE *t = tmpfile();
  if (!t) {
    perror("nnir_tool: tmpfile");
    exit(2);
  }
  ir_print_module(t, m);
  rewind(t);
  char *s = read_all(t, len);
  fclose(t);
  return s;
}

/* Round trip of one module text; reports the first differing line. */
static bool roundtrip(Arena *a, Diag *d, const char *path, const char *text, size_t len) {
  IrModule *m1 = ir_parse(a, d, path, text, len);
  if (!m1 || !ir_verify(m1, d)) return false;
  size_t n1, n2;
  char *p1 = print_to_string(m1, &n1);
  IrModule *m2 = ir_parse(a, d, "<printed>", p1, n1);
  bool ok = m2 && ir_verify(m2, d);
  if (ok) {
    char *p2 = print_to_string(m2, &n2);
    ok = n1 == n2 && !memcmp(p1, p2, n1);
    if (!ok) {
      size_t i = 0, line = 1;
      for (; i < n1 && i < n2 && p1[i] == p2[i]; i++)
        line += p1[i] == '\n';
      fprintf(stderr, "%s: error: print -> parse -> print differs at printed line %zu\n", path, line);
    }
    free(p2);
  }
  free(p1);
  return ok;
}

static int run_part(const char *path, const char *text, size_t len, bool dot, bool rt) {
  Arena *a = arena_new();
  Diag d;
  diag_init(&d, stderr);
  bool ok;
  if (rt) {
    ok = roundtrip(a, &d, path, text, len);
  } else {
    IrModule *m = ir_parse(a, &d, path, text, len);
    ok = m && ir_verify(m, &d);
    if (ok && dot)
      ir_print_dot(stdout, m);
    else if (ok)
      ir_print_module(stdout, m);
  }
  arena_free(a);
  return ok ? 0 : 1;
}

static bool is_split_line(const char *p, const char *end) {
  static const char mark[] = "# -----";
  size_t n = sizeof mark - 1;
  return (size_t)(end - p) >= n && !memcmp(p, mark, n) && (p + n == end || p[n] == '\n' || p[n] == '\r');
}

int main(int argc, char **argv) {
  bool dot = false, rt = false, split = false;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--dot"))
      dot = true;
    else if (!strcmp(argv[i], "--roundtrip"))
      rt = true;
    else if (!strcmp(argv[i], "--split-input-file"))
      split = true;
    else if (argv[i][0] == '-' || path) {
      fprintf(stderr, "usage: nnir_tool [--dot] [--roundtrip] [--split-input-file] file.nnir\n");
      return 2;
    } else
      path = argv[i];
  }
  if (!path) {
    fprintf(stderr, "usage: nnir_tool [--dot] [--roundtrip] [--split-input-file] file.nnir\n");
    return 2;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 2;
  }
  size_t len;
  char *text = read_all(f, &len);
  fclose(f);
  if (!split) {
    int rc = run_part(path, text, len, dot, rt);
    free(text);
    return rc;
  }
  /* Each part: a copy of the file with every byte outside the part, except
   * newlines, turned into a space. */
  int rc = 0, part = 0;
  char *buf = malloc(len + 1);
  const char *end = text + len;
  for (const char *start = text; start < end || part == 0;) {
    const char *stop = start;
    while (stop < end && !is_split_line(stop, end)) {
      while (stop < end && *stop != '\n')
        stop++;
      if (stop < end) stop++;
    }
    for (size_t i = 0; i < len; i++)
      buf[i] = (text + i >= start && text + i < stop) || text[i] == '\n' ? text[i] : ' ';
    if (part++) printf("# -----\n");
    fflush(stdout);
    rc |= run_part(path, buf, len, dot, rt);
    fflush(stdout);
    if (stop == end) break;
    while (stop < end && *stop != '\n')
      stop++; /* skip the marker line */
    start = stop < end ? stop + 1 : end;
  }
  free(buf);
  free(text);
  return rc;
}
