/* dedup.c — one LLVM function per distinct kernel.
 *
 * A model repeats itself: a Transformer's blocks, a stacked LSTM's layers
 * and the forward, eval_step and train_step functions plan the same kernels
 * over the same shapes, differing only in which buffers they are handed.
 * A kernel function takes its buffers as parameters, so two such kernels
 * are the same LLVM function under two names, and LLVM would optimise and
 * compile each copy again: for char_gpt that was most of `nnc build`'s time
 * (see --time-passes). Here each kernel function, once built, is compared
 * with the ones built before it in this module, by its printed IR with the
 * name left out (which covers the signature, the attributes, every constant
 * and every callee); a twin replaces it before anything calls it, and twins
 * share one parallel wrapper (cg_make_body's). LLVM's MergeFunctions pass
 * cannot do this: it runs on optimised code, after the time is spent, and
 * sees two kernels whose wrappers call different (if identical) functions
 * as different.
 *
 * A shared function keeps the first kernel's name, so a profile under perf
 * shows that name for every twin; nnc's own profile (the kernel table) still
 * names each kernel. */
#include <llvm-c/Core.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

#define TWIN_BUCKETS 1024

struct CgTwin {
  uint64_t hash;
  const char *text; /* the function's IR without its name */
  LLVMValueRef fn, body;
  struct CgTwin *next;
};

struct CgTwins {
  struct CgTwin *bucket[TWIN_BUCKETS];
};

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* fn's IR text with "@<name>" on its define line removed. */
static char *anonymous_text(Arena *a, LLVMValueRef fn) {
  char *ir = LLVMPrintValueToString(fn);
  const char *at = strchr(ir, '@'), *paren = at ? strchr(at, '(') : NULL;
  char *text = at && paren ? arena_printf(a, "%.*s%s", (int)(at - ir), ir, paren) : arena_strdup(a, ir);
  LLVMDisposeMessage(ir);
  return text;
}

void cg_dedup_kernel(CgCtx *cx, CgKFn *kf) {
  kf->twin = NULL;
  if (!cx->twins) cx->twins = arena_alloc(cx->arena, sizeof *cx->twins);
  char *text = anonymous_text(cx->arena, kf->fn);
  uint64_t h = fnv1a(text);
  struct CgTwin **head = &cx->twins->bucket[h % TWIN_BUCKETS];
  for (struct CgTwin *t = *head; t; t = t->next)
    if (t->hash == h && !strcmp(t->text, text)) {
      /* Nothing refers to the new function yet: the step function that
       * calls it is built after all its kernels. */
      LLVMDeleteFunction(kf->fn);
      kf->fn = t->fn;
      kf->body = t->body;
      kf->twin = t;
      return;
    }
  struct CgTwin *t = arena_alloc(cx->arena, sizeof *t);
  *t = (struct CgTwin){.hash = h, .text = text, .fn = kf->fn, .body = kf->body, .next = *head};
  *head = t;
  kf->twin = t;
}

void cg_kernel_body(CgCtx *cx, CgKFn *kf, const char *name) {
  if (kf->body) return; /* a twin's */
  cg_make_body(cx, kf, name);
  if (kf->twin) kf->twin->body = kf->body;
}
