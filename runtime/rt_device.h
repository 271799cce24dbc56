/* rt_device.h — where a CUDA binary's compiled functions run.
 *
 * A CPU binary's step functions compute on the host memory the session
 * hands them. A CUDA binary's (NnrtModel.cuda != NULL) run on the host but
 * enqueue device work, so the session keeps the parameters, optimizer
 * state, batch buffers and workspace in device memory and copies to and
 * from the host only what the host needs (a batch in, the loss and output
 * out, the globals for checkpoints and reports). That memory traffic goes
 * through this table. Two implementations: the real one (runtime/cuda/
 * rt_cuda.c: the driver API and cuBLASLt, loaded with dlopen) and the test
 * harness's emulation (runtime/cuda/rt_cuemu.c: host memory, kernels run
 * by tests/cuda/emu.h). Each is linked into CUDA binaries only, and both
 * define the same symbol, rt_cuda_device; the core runtime refers to it
 * weakly, so a CPU binary carries no CUDA code. */
#ifndef RT_DEVICE_H
#define RT_DEVICE_H
#include <stddef.h>

#include "nnrt.h"

typedef struct RtDevice {
  const char *name; /* "cuda", "cuda (emulated)" */
  /* Opens device `ordinal` (--device N) for model m: loads its module,
   * creates its streams. Fails with exit 1 and "no CUDA device: <reason>"
   * when there is no driver, no GPU or no image for the GPU. */
  int (*open)(const NnrtModel *m, int ordinal, RtError *e);
  void (*close)(void);
  /* Device memory (256-byte aligned), and pinned host memory. */
  void *(*alloc)(size_t bytes, const char *what, RtError *e);
  void (*free)(void *p);
  void *(*host_alloc)(size_t bytes, const char *what, RtError *e);
  void (*host_free)(void *p);
  /* Host to device, on the copy stream: returns at once, and the copy is
   * ordered before the next launch but not before work launched already
   * (so the next batch goes up while the current step runs). src (pinned
   * host memory for a batch, so that the copy is asynchronous) must stay
   * unchanged until that launch's wait returns. */
  int (*upload)(void *dst, const void *src, size_t bytes, RtError *e);
  /* Device to host, after the launched work; complete on return. Not
   * ordered after uploads issued since the last launch. */
  int (*download)(void *dst, const void *src, size_t bytes, RtError *e);
  /* Enqueues f (NNRT_FN_* fn_id) on device args (globals, inputs, outputs)
   * and workspace ws at syms, after every upload issued before, and returns
   * without waiting for it; an error found while enqueuing is returned at
   * once. wait waits for it and reports a fault it hit. step names the
   * training step in error messages (-1 outside training). */
  int (*launch)(const NnrtFunc *f, int fn_id, void **args, const int64_t *syms, void *ws, int64_t step, RtError *e);
  int (*wait)(RtError *e);
} RtDevice;

/* Defined by the CUDA runtime a CUDA binary links; NULL in a CPU binary. */
extern const RtDevice rt_cuda_device __attribute__((weak));

/* dev's launch then wait: f run to its end (tests/cuda/compare.c). */
int rt_device_run(const RtDevice *dev, const NnrtFunc *f, int fn_id, void **args, const int64_t *syms, void *ws,
                  int64_t step, RtError *e);

/* The session's side of it (rt_mirror.c, for rt_session.c): opens the
 * device for s (a CUDA binary); lays out one device arena for the globals,
 * lr and the loss, two batch slots, the output and the workspace, with the
 * pinned host buffers staging the slots (rt_mirror_alloc, once per largest
 * batch; rt_mirror_ws grows it); and runs f on the device on the batch
 * idx[0..bs) of d, first staging and uploading s->next's batch into the
 * other slot while f runs. After the run s->x and s->y hold the batch's
 * host copies and s->out its output. */
int rt_mirror_open(RtSession *s, RtError *e);
void rt_mirror_close(RtSession *s);
int rt_mirror_alloc(RtSession *s, size_t x_bytes, size_t y_bytes, size_t out_bytes, int64_t ws_bytes, RtError *e);
int rt_mirror_ws(RtSession *s, int64_t need, RtError *e);
int rt_mirror_run(RtSession *s, const NnrtFunc *f, const RtDataset *d, const int32_t *idx, int64_t bs, RtError *e);

/* rt_session.c, for rt_mirror.c: gathers samples idx[0..bs) of d into x
 * and, where f takes labels (or an inference binary's eval scores forward's
 * output), their labels into y; returns whether it did (the batch is
 * scored). */
int rt_stage_batch(const RtSession *s, const NnrtFunc *f, const RtDataset *d, const int32_t *idx, int64_t bs, void *x,
                   void *y);

#endif
