/* arena.c — see arena.h. Blocks grow geometrically; large requests get a
 * block of their own. */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ArenaBlock {
  ArenaBlock *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

_Noreturn void nnc_unreachable(const char *file, int line, const char *msg) {
  fprintf(stderr, "nnc: internal error at %s:%d: %s\n", file, line, msg);
  abort();
}

Arena *arena_new(void) {
  Arena *a = calloc(1, sizeof *a);
  if (!a) unreachable("out of memory");
  return a;
}

void arena_free(Arena *a) {
  if (!a) return;
  for (ArenaBlock *b = a->head, *n; b; b = n) {
    n = b->next;
    free(b);
  }
  free(a);
}

void *arena_alloc(Arena *a, size_t size) {
  if (size > SIZE_MAX - 15) unreachable("arena_alloc: size overflows");
  size = (size + 15) & ~(size_t)15;
  ArenaBlock *b = a->head;
  if (!b || b->cap - b->used < size) {
    size_t cap = b ? b->cap * 2 : 64 * 1024;
    if (cap > 16 * 1024 * 1024) cap = 16 * 1024 * 1024;
    if (cap < size) cap = size;
    ArenaBlock *nb = malloc(sizeof *nb + cap);
    if (!nb) unreachable("out of memory");
    nb->used = 0;
    nb->cap = cap;
    nb->next = a->head;
    a->head = nb;
    b = nb;
  }
  void *p = b->data + b->used;
  b->used += size;
  a->used += size;
  memset(p, 0, size);
  return p;
}

void *arena_grow(Arena *a, void *old, size_t old_cap, size_t new_cap, size_t elem) {
  if (elem && new_cap > SIZE_MAX / elem) unreachable("arena_grow: size overflows");
  void *p = arena_alloc(a, new_cap * elem);
  if (old && old_cap) memcpy(p, old, old_cap * elem);
  return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

char *arena_strdup(Arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_printf(Arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = arena_alloc(a, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}
