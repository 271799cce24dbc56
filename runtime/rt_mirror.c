/* rt_mirror.c — a CUDA binary's session: the globals, batch buffers and
 * workspace in device memory, and the host copies the driver needs.
 *
 * A CUDA binary (NnrtModel.cuda) runs its step functions on the host, but
 * every pointer they are given is device memory (rt_device.h). So the
 * session keeps the globals on the device and copies them only when one
 * side needs what the other changed:
 *   - the host changes s->g (init, --init, --checkpoint, --resume, pruning)
 *     and says so with rt_session_globals_changed: the next run uploads all
 *     of them first (one copy, the arena's layout is g's);
 *   - train_step changes them on the device: the host copy is stale until
 *     rt_session_globals_host downloads it, which every reader of s->g
 *     (checkpoint saves, the NaN guard's search, pruning, reports) calls
 *     first. A training epoch therefore moves no parameters at all; only the
 *     batch goes up and the loss and the output come down.
 * The batch is gathered on the host into pinned buffers (s->x, s->y) and
 * uploaded; the device orders the upload before the step (rt_device.h).
 * lr and the loss are scalars in d_scalars, RT_ALIGN bytes apart.
 *
 * The device is rt_cuda_device: the real runtime (runtime/cuda/rt_cuda.c)
 * or the emulation (runtime/cuda/rt_cuemu.c), whichever the binary links;
 * the reference is weak, so a binary without either fails with a message
 * instead of a crash, and a CPU binary carries no CUDA code. One session
 * at a time holds the device (each command opens one). */
#include "nnrt.h"
#include "rt_device.h"
#include <string.h>

static int g_ordinal; /* --device */

void rt_device_select(int ordinal) { g_ordinal = ordinal; }

enum { LR_AT = 0, LOSS_AT = RT_ALIGN }; /* offsets in d_scalars */

int rt_mirror_open(RtSession *s, RtError *e) {
  const RtDevice *dev = &rt_cuda_device;
  if (!dev)
    return rt_fail(e, RT_EXIT_FAIL,
                   "model '%s' was compiled for CUDA, but this binary lacks the CUDA runtime (link it with "
                   "libnnrt_cuda.a)",
                   s->m->name);
  if (dev->open(s->m, g_ordinal, e)) return -1;
  s->dev = dev;
  s->globals_newer = RT_HOST_NEWER;
  s->d_globals = dev->alloc(s->g.bytes ? s->g.bytes : RT_ALIGN, "model parameters", e);
  s->d_scalars = s->d_globals ? dev->alloc(2 * RT_ALIGN, "learning rate and loss", e) : NULL;
  return s->d_scalars ? 0 : -1;
}

void rt_mirror_close(RtSession *s) {
  const RtDevice *dev = s->dev;
  if (!dev) return;
  void **dmem[] = {&s->d_globals, &s->d_x, &s->d_y, &s->d_out, &s->d_scalars, &s->ws};
  for (size_t i = 0; i < sizeof dmem / sizeof dmem[0]; i++)
    if (*dmem[i]) dev->free(*dmem[i]), *dmem[i] = NULL;
  void **hmem[] = {&s->x, &s->y, (void **)&s->out};
  for (size_t i = 0; i < sizeof hmem / sizeof hmem[0]; i++)
    if (*hmem[i]) dev->host_free(*hmem[i]), *hmem[i] = NULL;
  s->ws_size = 0;
  dev->close();
  s->dev = NULL;
}

int rt_mirror_alloc(RtSession *s, size_t x_bytes, size_t y_bytes, size_t out_bytes, RtError *e) {
  const RtDevice *dev = s->dev;
  /* At least one aligned slice each: a model without labels still has a y. */
  x_bytes = x_bytes ? x_bytes : RT_ALIGN, y_bytes = y_bytes ? y_bytes : RT_ALIGN;
  out_bytes = out_bytes ? out_bytes : RT_ALIGN;
  if (!(s->x = dev->host_alloc(x_bytes, "input batch", e)) || !(s->y = dev->host_alloc(y_bytes, "label batch", e)) ||
      !(s->out = dev->host_alloc(out_bytes, "output batch", e)) || !(s->d_x = dev->alloc(x_bytes, "input batch", e)) ||
      !(s->d_y = dev->alloc(y_bytes, "label batch", e)) || !(s->d_out = dev->alloc(out_bytes, "output batch", e)))
    return -1;
  return 0;
}

int rt_mirror_ws(RtSession *s, int64_t need, RtError *e) {
  if (s->ws) s->dev->free(s->ws);
  s->ws_size = 0;
  if (!(s->ws = s->dev->alloc((size_t)need, "workspace", e))) return -1;
  s->ws_size = need;
  return 0;
}

int rt_session_globals_host(RtSession *s, RtError *e) {
  if (!s->dev || s->globals_newer != RT_DEVICE_NEWER) return 0;
  if (s->dev->download(s->g.base, s->d_globals, s->g.bytes, e)) return -1;
  s->globals_newer = RT_SYNCED;
  return 0;
}

void rt_session_globals_changed(RtSession *s) {
  if (s->dev) s->globals_newer = RT_HOST_NEWER;
}

static int fn_id(const RtSession *s, const NnrtFunc *f) {
  return f == &s->m->train_step ? NNRT_FN_TRAIN : f == &s->m->eval_step ? NNRT_FN_EVAL : NNRT_FN_FORWARD;
}

int rt_mirror_run(RtSession *s, const NnrtFunc *f, int64_t bs, RtError *e) {
  const RtDevice *dev = s->dev;
  int id = fn_id(s, f);
  if (s->globals_newer == RT_HOST_NEWER) {
    if (dev->upload(s->d_globals, s->g.base, s->g.bytes, e)) return -1;
    s->globals_newer = RT_SYNCED;
  }
  size_t xb = (size_t)(bs * s->x_per) * rt_dtype_size(s->x_t->dtype);
  /* Labels go up for the functions that take them (an inference binary's
   * eval scores forward's output against its labels on the host). */
  size_t yb = id != NNRT_FN_FORWARD ? (size_t)(bs * s->y_per) * rt_dtype_size(s->y_t->dtype) : 0;
  size_t ob = (size_t)(bs * s->out_per) * rt_dtype_size(s->out_t->dtype);
  char *scalars = s->d_scalars;
  if (dev->upload(s->d_x, s->x, xb, e) || (yb && dev->upload(s->d_y, s->y, yb, e)) ||
      (id == NNRT_FN_TRAIN && dev->upload(scalars + LR_AT, &s->lr, sizeof s->lr, e)))
    return -1;
  int na = 0;
  for (int32_t g = 0; g < s->m->n_globals; g++) /* g's slices at the same offsets in the device arena */
    s->args[na++] = (char *)s->d_globals + ((char *)s->g.ptr[g] - (char *)s->g.base);
  s->args[na++] = s->d_x;
  if (id != NNRT_FN_FORWARD) s->args[na++] = s->d_y;
  if (id == NNRT_FN_TRAIN) s->args[na++] = scalars + LR_AT;
  if (id != NNRT_FN_FORWARD) s->args[na++] = scalars + LOSS_AT;
  s->args[na++] = s->d_out;
  if (dev->run(f, id, s->args, s->syms, s->ws, s->step, e)) return -1;
  if (id == NNRT_FN_TRAIN) s->globals_newer = RT_DEVICE_NEWER;
  if (id != NNRT_FN_FORWARD && dev->download(&s->loss, scalars + LOSS_AT, sizeof s->loss, e)) return -1;
  return dev->download(s->out, s->d_out, ob, e);
}
