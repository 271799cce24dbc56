/* rt_mirror.c — a CUDA binary's session: the globals, batch buffers and
 * workspace in device memory, and the host copies the driver needs.
 *
 * A CUDA binary (NnrtModel.cuda) runs its step functions on the host, but
 * every pointer they are given is device memory (rt_device.h). So the
 * session keeps the globals on the device and copies them only when one
 * side needs what the other changed:
 *   - the host changes s->g (init, --init, --checkpoint, --resume, pruning)
 *     and says so with rt_session_globals_changed: the next run uploads all
 *     of them first (one copy, the arena starts with g's layout);
 *   - train_step changes them on the device: the host copy is stale until
 *     rt_session_globals_host downloads it, which every reader of s->g
 *     (checkpoint saves, the NaN guard's search, pruning, reports) calls
 *     first. A training epoch therefore moves no parameters at all; only the
 *     batch goes up and the loss and the output come down.
 *
 * The arena: one device allocation holds everything a step touches, each
 * part at a DEV_ALIGN-aligned offset:
 *   [globals, laid out as g | lr, loss | x slot 0 | x slot 1 | y slot 0 |
 *    y slot 1 | out | workspace]
 * sized for the largest batch when the session allocates its batch buffers
 * (rt_mirror_alloc) and grown only if a function later needs a larger
 * workspace than that (rt_mirror_ws): the globals are then brought to the
 * host first and go up again before the next run. The pinned host buffers
 * staging the slots and the output are one allocation too.
 *
 * Overlap: a run uploads its batch to a slot, launches the step and, when
 * the caller said which batch comes next (rt_session_next), gathers that
 * one into the other slot's pinned buffers and uploads it on the copy
 * stream while the step runs; the next run finds it there and launches at
 * once. The slot the step reads is never written while it runs, and the
 * pinned buffers of a slot are rewritten only after the step that read the
 * slot has ended (its run waited for it), so the results are those of the
 * serial path (NNRT_CUDA_PREFETCH=0 turns overlap off, for comparison).
 * lr goes up at launch, when nothing runs, so it needs no second slot.
 *
 * The device is rt_cuda_device: the real runtime (runtime/cuda/rt_cuda.c)
 * or the emulation (runtime/cuda/rt_cuemu.c), whichever the binary links;
 * the reference is weak, so a binary without either fails with a message
 * instead of a crash, and a CPU binary carries no CUDA code. One session
 * at a time holds the device (each command opens one). */
#include "nnrt.h"
#include "rt_device.h"
#include <stdlib.h>
#include <string.h>

enum { DEV_ALIGN = 256 }; /* cuMemAlloc's alignment; every part of the arena starts at a multiple */

typedef struct RtMirror {
  char *arena; /* device memory */
  size_t capacity;
  size_t scalars_at, x_at[2], y_at[2], out_at, ws_at; /* offsets in the arena */
  size_t x_bytes, y_bytes, out_bytes;                 /* per slot, as asked for */
  char *pinned;                                       /* host: x[2], y[2], out */
  void *hx[2], *hy[2];
  int slot;    /* the slot the next run reads */
  int overlap; /* NNRT_CUDA_PREFETCH is not 0 */
  /* What slot `slot` holds, uploaded by the previous run (bs 0: nothing):
   * only the very next run may use it. */
  RtBatchRef staged;
} RtMirror;

static int g_ordinal; /* --device */

void rt_device_select(int ordinal) { g_ordinal = ordinal; }

static size_t up(size_t n) { return (n + DEV_ALIGN - 1) / DEV_ALIGN * DEV_ALIGN; }

int rt_device_run(const RtDevice *dev, const NnrtFunc *f, int fn_id, void **args, const int64_t *syms, void *ws,
                  int64_t step, RtError *e) {
  return dev->launch(f, fn_id, args, syms, ws, step, e) || dev->wait(e) ? -1 : 0;
}

int rt_mirror_open(RtSession *s, RtError *e) {
  const RtDevice *dev = &rt_cuda_device;
  if (!dev)
    return rt_fail(e, RT_EXIT_FAIL,
                   "model '%s' was compiled for CUDA, but this binary lacks the CUDA runtime (link it with "
                   "libnnrt_cuda.a)",
                   s->m->name);
  if (!(s->mirror = rt_alloc(sizeof *s->mirror, "device state", e))) return -1;
  const char *v = getenv("NNRT_CUDA_PREFETCH");
  s->mirror->overlap = !(v && strcmp(v, "0") == 0);
  if (dev->open(s->m, g_ordinal, e)) return -1;
  s->dev = dev;
  s->globals_newer = RT_HOST_NEWER;
  return 0;
}

void rt_mirror_close(RtSession *s) {
  RtMirror *mi = s->mirror;
  if (s->dev) {
    if (mi && mi->arena) s->dev->free(mi->arena);
    if (mi && mi->pinned) s->dev->host_free(mi->pinned);
    s->dev->close();
    /* They pointed into the arena and the pinned buffers; a CPU session's
     * are its own, freed by rt_session_close. */
    s->x = s->y = s->out = s->ws = NULL;
    s->ws_size = 0;
  }
  rt_free(mi);
  s->mirror = NULL;
  s->dev = NULL;
}

/* Lays the arena out for batch slots of x, y and out bytes and a workspace
 * of ws bytes, reallocating it if it is too small (the globals then travel
 * through the host). Any batch staged in the old one is gone. */
static int layout(RtSession *s, int64_t ws, RtError *e) {
  RtMirror *mi = s->mirror;
  size_t at = up(s->g.bytes);
  mi->scalars_at = at, at += 2 * DEV_ALIGN;
  for (int k = 0; k < 2; k++)
    mi->x_at[k] = at, at += up(mi->x_bytes);
  for (int k = 0; k < 2; k++)
    mi->y_at[k] = at, at += up(mi->y_bytes);
  mi->out_at = at, at += up(mi->out_bytes);
  mi->ws_at = at, at += up((size_t)ws);
  mi->staged.d = NULL; /* a staged batch is not used (the old arena may be gone), but counts as in flight */
  s->ws_size = 0;
  if (at > mi->capacity) {
    if (rt_session_globals_host(s, e)) return -1;
    if (mi->arena) s->dev->free(mi->arena);
    mi->capacity = 0;
    mi->arena = s->dev->alloc(at, "the device arena (parameters, optimizer state, batches and workspace)", e);
    if (!mi->arena) return -1;
    mi->capacity = at;
    s->globals_newer = RT_HOST_NEWER;
  }
  s->ws = mi->arena + mi->ws_at;
  s->ws_size = ws;
  return 0;
}

int rt_mirror_alloc(RtSession *s, size_t x_bytes, size_t y_bytes, size_t out_bytes, int64_t ws_bytes, RtError *e) {
  RtMirror *mi = s->mirror;
  /* At least one aligned slice each: a model without labels still has a y. */
  mi->x_bytes = x_bytes ? x_bytes : DEV_ALIGN, mi->y_bytes = y_bytes ? y_bytes : DEV_ALIGN;
  mi->out_bytes = out_bytes ? out_bytes : DEV_ALIGN;
  if (mi->pinned) s->dev->host_free(mi->pinned);
  size_t xs = up(mi->x_bytes), ys = up(mi->y_bytes);
  if (!(mi->pinned = s->dev->host_alloc(2 * xs + 2 * ys + up(mi->out_bytes), "the batch buffers", e))) return -1;
  for (int k = 0; k < 2; k++) {
    mi->hx[k] = mi->pinned + (size_t)k * xs;
    mi->hy[k] = mi->pinned + 2 * xs + (size_t)k * ys;
  }
  s->x = mi->hx[0], s->y = mi->hy[0];
  s->out = (float *)(void *)(mi->pinned + 2 * xs + 2 * ys);
  mi->slot = 0;
  return layout(s, ws_bytes, e);
}

int rt_mirror_ws(RtSession *s, int64_t need, RtError *e) { return layout(s, need, e); }

int rt_session_globals_host(RtSession *s, RtError *e) {
  if (!s->dev || s->globals_newer != RT_DEVICE_NEWER) return 0;
  if (s->dev->download(s->g.base, s->mirror->arena, s->g.bytes, e)) return -1;
  s->globals_newer = RT_SYNCED;
  return 0;
}

void rt_session_globals_changed(RtSession *s) {
  if (s->dev) s->globals_newer = RT_HOST_NEWER;
}

static int fn_id(const RtSession *s, const NnrtFunc *f) {
  return f == &s->m->train_step ? NNRT_FN_TRAIN : f == &s->m->eval_step ? NNRT_FN_EVAL : NNRT_FN_FORWARD;
}

/* Gathers batch idx[0..bs) of d for f into slot k's pinned buffers and
 * uploads it: the features, and the labels where f takes them (an inference
 * binary's eval scores forward's output against its labels on the host). */
static int stage(RtSession *s, int k, const NnrtFunc *f, const RtDataset *d, const int32_t *idx, int64_t bs,
                 RtError *e) {
  RtMirror *mi = s->mirror;
  rt_stage_batch(s, f, d, idx, bs, mi->hx[k], mi->hy[k]);
  size_t xb = (size_t)(bs * s->x_per) * rt_dtype_size(s->x_t->dtype);
  size_t yb = fn_id(s, f) != NNRT_FN_FORWARD ? (size_t)(bs * s->y_per) * rt_dtype_size(s->y_t->dtype) : 0;
  if (s->dev->upload(mi->arena + mi->x_at[k], mi->hx[k], xb, e)) return -1;
  return yb ? s->dev->upload(mi->arena + mi->y_at[k], mi->hy[k], yb, e) : 0;
}

int rt_mirror_run(RtSession *s, const NnrtFunc *f, const RtDataset *d, const int32_t *idx, int64_t bs, RtError *e) {
  const RtDevice *dev = s->dev;
  RtMirror *mi = s->mirror;
  int id = fn_id(s, f), k = mi->slot;
  /* The batch: uploaded already if the previous run was told it came next.
   * Else it goes up now, into the other slot if this one's upload was for a
   * batch that did not come (a run cut short): that copy may still be
   * reading this slot's pinned buffers. */
  if (!(mi->staged.bs && mi->staged.f == f && mi->staged.d == d && mi->staged.idx == idx && mi->staged.bs == bs)) {
    if (mi->staged.bs) k = 1 - k;
    if (stage(s, k, f, d, idx, bs, e)) return -1;
  }
  mi->staged.bs = 0;
  mi->slot = k;
  s->x = mi->hx[k], s->y = mi->hy[k];
  if (s->globals_newer == RT_HOST_NEWER) {
    if (dev->upload(mi->arena, s->g.base, s->g.bytes, e)) return -1;
    s->globals_newer = RT_SYNCED;
  }
  char *lr = mi->arena + mi->scalars_at, *loss = lr + DEV_ALIGN;
  /* The step waits for every upload so far; nothing runs, so lr has one slot. */
  if (id == NNRT_FN_TRAIN && dev->upload(lr, &s->lr, sizeof s->lr, e)) return -1;
  int na = 0;
  for (int32_t g = 0; g < s->m->n_globals; g++) /* g's slices at the same offsets in the arena */
    s->args[na++] = mi->arena + ((char *)s->g.ptr[g] - (char *)s->g.base);
  s->args[na++] = mi->arena + mi->x_at[k];
  if (id != NNRT_FN_FORWARD) s->args[na++] = mi->arena + mi->y_at[k];
  if (id == NNRT_FN_TRAIN) s->args[na++] = lr;
  if (id != NNRT_FN_FORWARD) s->args[na++] = loss;
  s->args[na++] = mi->arena + mi->out_at;
  int rc = dev->launch(f, id, s->args, s->syms, s->ws, s->step, e);
  if (!rc && id == NNRT_FN_TRAIN) s->globals_newer = RT_DEVICE_NEWER;
  /* While it runs: the next batch into the other slot, whose last reader
   * has ended (its run waited for it). */
  if (!rc && s->next.bs && mi->overlap) {
    int n = 1 - k;
    rc = stage(s, n, s->next.f, s->next.d, s->next.idx, s->next.bs, e);
    if (!rc) {
      mi->staged = s->next;
      mi->slot = n;
    } else {
      RtError ignored; /* the upload's error is the one to report; the step is abandoned */
      dev->wait(&ignored);
    }
  }
  s->next.bs = 0;
  if (rc || dev->wait(e)) return -1;
  size_t ob = (size_t)(bs * s->out_per) * rt_dtype_size(s->out_t->dtype);
  if (id != NNRT_FN_FORWARD && dev->download(&s->loss, loss, sizeof s->loss, e)) return -1;
  return dev->download(s->out, mi->arena + mi->out_at, ob, e);
}
