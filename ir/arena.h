/* arena.h — bump allocation for one compilation.
 * Everything the compiler builds (tokens, AST, IR, strings) lives in one
 * arena and dies with it; nothing is freed node by node. */
#ifndef NNC_ARENA_H
#define NNC_ARENA_H
#include <limits.h>
#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;
typedef struct Arena {
  ArenaBlock *head;
  size_t used; /* bytes handed out so far (tests bound memory use with it) */
} Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
/* Zeroed, 16-byte aligned; aborts on out-of-memory (a compiler bug or a
 * machine problem, never the user's input). */
void *arena_alloc(Arena *a, size_t size);
/* Grows an array allocated from the arena: returns a copy of `old` with room
 * for new_cap elements of `elem` bytes (the old block is simply abandoned). */
void *arena_grow(Arena *a, void *old, size_t old_cap, size_t new_cap, size_t elem);
/* Makes room for one more element in the arena array `arr` that holds n of
 * cap elements (n and cap are ints): when it is full, cap doubles (from
 * `first`). Aborts rather than let cap overflow. The one growth rule of every
 * arena array in the compiler. */
#define ARENA_GROW(a, arr, n, cap, first)                                                                              \
  do {                                                                                                                 \
    if ((n) >= (cap)) {                                                                                                \
      if ((cap) > INT_MAX / 2) unreachable("arena array too large");                                                   \
      int nc_ = (cap) ? 2 * (cap) : (first);                                                                           \
      (arr) = arena_grow((a), (arr), (size_t)(cap), (size_t)nc_, sizeof *(arr));                                       \
      (cap) = nc_;                                                                                                     \
    }                                                                                                                  \
  } while (0)
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Internal errors: a bug in nnc, not in the user's input. */
_Noreturn void nnc_unreachable(const char *file, int line, const char *msg);
#define unreachable(msg) nnc_unreachable(__FILE__, __LINE__, msg)

#endif
