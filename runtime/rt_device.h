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
  /* Host to device, ordered before the next run; device to host, complete
   * on return. */
  int (*upload)(void *dst, const void *src, size_t bytes, RtError *e);
  int (*download)(void *dst, const void *src, size_t bytes, RtError *e);
  /* Runs f (NNRT_FN_* fn_id) on device args (globals, inputs, outputs) and
   * workspace ws at syms, and waits for it. step names the training step in
   * error messages (-1 outside training). */
  int (*run)(const NnrtFunc *f, int fn_id, void **args, const int64_t *syms, void *ws, int64_t step, RtError *e);
} RtDevice;

/* Defined by the CUDA runtime a CUDA binary links; NULL in a CPU binary. */
extern const RtDevice rt_cuda_device __attribute__((weak));

/* The session's side of it (rt_mirror.c, for rt_session.c): opens the
 * device for s (a CUDA binary), allocates the batch buffers (pinned host
 * and device memory) and the workspace, and runs f on the device with the
 * batch staged in s->x and s->y. */
int rt_mirror_open(RtSession *s, RtError *e);
void rt_mirror_close(RtSession *s);
int rt_mirror_alloc(RtSession *s, size_t x_bytes, size_t y_bytes, size_t out_bytes, RtError *e);
int rt_mirror_ws(RtSession *s, int64_t need, RtError *e);
int rt_mirror_run(RtSession *s, const NnrtFunc *f, int64_t bs, RtError *e);

#endif
