/* src.c — a growing text buffer for generated CUDA C. */
#include <stdio.h>
#include <stdlib.h>

#include "cuda.h"

void cu_printf(CuSrc *s, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    size_t room = s->cap - s->n;
    va_start(ap, fmt);
    int n = vsnprintf(s->s ? s->s + s->n : NULL, s->s ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) unreachable("vsnprintf failed");
    if (s->s && (size_t)n < room) {
      s->n += (size_t)n;
      return;
    }
    size_t cap = s->cap ? s->cap : 4096;
    while (cap - s->n <= (size_t)n) cap *= 2;
    char *p = realloc(s->s, cap);
    if (!p) unreachable("out of memory");
    s->s = p, s->cap = cap;
  }
}

void cu_free(CuSrc *s) {
  free(s->s);
  s->s = NULL, s->n = s->cap = 0;
}
