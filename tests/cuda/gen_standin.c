/* gen_standin.c — TEMPORARY test-only stand-in for codegen/cuda/src.c and
 * gen.c (the lead's, not on main yet): the text builder and the module
 * record, just enough for test_cugen to drive the kernel generators. To be
 * deleted when the real files land. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda.h"

void cu_printf(CuSrc *s, const char *fmt, ...) {
  va_list ap, aq;
  va_start(ap, fmt);
  va_copy(aq, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (s->n + (size_t)n + 1 > s->cap) {
    s->cap = (s->n + (size_t)n + 1) * 2;
    s->s = realloc(s->s, s->cap);
    if (!s->s) abort();
  }
  vsnprintf(s->s + s->n, (size_t)n + 1, fmt, aq);
  va_end(aq);
  s->n += (size_t)n;
}

void cu_free(CuSrc *s) {
  free(s->s);
  memset(s, 0, sizeof *s);
}

void cu_gen_init(CuGen *g, const IrModule *m, Arena *a, Diag *d) {
  memset(g, 0, sizeof *g);
  g->m = m, g->arena = a, g->diag = d;
}

int cu_gen_kernel(CuGen *g, const char *name, int block, int rows) {
  ARENA_GROW(g->arena, g->ktab, g->nk, g->kcap, 16);
  g->ktab[g->nk] = (NnrtCuKernel){.name = name, .block = block, .rows = rows};
  return g->nk++;
}

bool cu_gen_fail(CuGen *g, const char *fmt, ...) {
  if (g->error) return false;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  g->error = arena_strdup(g->arena, buf);
  return false;
}

void cu_prelude(CuSrc *s) {
  cu_printf(s, "struct NnrtCuArgs { void *b[%d]; long long s[%d]; long long work; };\n", NNRT_CU_MAX_BUFS,
            NNRT_MAX_SYMS);
}
