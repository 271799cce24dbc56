/* device_double.c — a test double of rt_cuda_device (rt_device.h) for
 * binaries built from fake_model.c with FAKE_CUDA: "device memory" is
 * malloc'd blocks apart from the session's host copies, and run calls the
 * (host) step function on them. A mirror bug (a missing upload or download,
 * a host pointer handed to a step) then shows as results that differ from
 * the CPU binary's, or as a failure here:
 *   - run checks that every argument and the workspace lie in device blocks;
 *   - every transfer must stay inside one block;
 *   - pinned host buffers are filled with NaN when allocated, so reading one
 *     before anything was downloaded into it shows.
 * NNRT_TEST_DEVICE_LOG=1 prints, when the device closes, the transfers of
 * each block by its name ("model parameters: 1 up, 1 down"), so tests can
 * check that the globals travel only when the host needs them.
 * --device 0 is the only device; another says "no CUDA device". */
#include "rt_device.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_BLOCKS = 64 };

static struct {
  int open;
  struct Block {
    char *p;
    size_t bytes;
    char what[64];
    int64_t up, down;
  } b[MAX_BLOCKS];
  int n;
  int64_t runs;
} g;

static struct Block *block_of(const void *p, size_t bytes) {
  for (int i = 0; i < g.n; i++)
    if (g.b[i].p && (const char *)p >= g.b[i].p && (const char *)p + bytes <= g.b[i].p + g.b[i].bytes) return &g.b[i];
  return NULL;
}

static int dd_open(const NnrtModel *m, int ordinal, RtError *e) {
  if (!m->cuda) return rt_fail(e, RT_EXIT_FAIL, "device double: the model has no NnrtCuda");
  if (ordinal != 0)
    return rt_fail(e, RT_EXIT_FAIL, "no CUDA device: --device %d, but this test double has 1 CUDA device (0 to 0)",
                   ordinal);
  if (g.open) return rt_fail(e, RT_EXIT_FAIL, "device double: opened twice");
  memset(&g, 0, sizeof g);
  g.open = 1;
  return 0;
}

static void dd_close(void) {
  if (getenv("NNRT_TEST_DEVICE_LOG"))
    for (int i = 0; i < g.n; i++)
      if (g.b[i].up || g.b[i].down)
        fprintf(stderr, "device double: %s: %lld up, %lld down\n", g.b[i].what, (long long)g.b[i].up,
                (long long)g.b[i].down);
  for (int i = 0; i < g.n; i++)
    if (g.b[i].p) fprintf(stderr, "device double: %s was not freed\n", g.b[i].what), abort();
  g.open = 0;
}

static void *dd_alloc(size_t bytes, const char *what, RtError *e) {
  if (g.n == MAX_BLOCKS) return rt_fail(e, RT_EXIT_FAIL, "device double: too many blocks"), NULL;
  struct Block *b = &g.b[g.n++];
  if (!(b->p = malloc(bytes ? bytes : 1))) return rt_fail(e, RT_EXIT_FAIL, "device double: out of memory"), NULL;
  memset(b->p, 0xff, bytes); /* NaN-filled: uninitialised device memory must not look like zeros */
  b->bytes = bytes;
  snprintf(b->what, sizeof b->what, "%s", what);
  return b->p;
}

static void dd_free(void *p) {
  struct Block *b = block_of(p, 0);
  if (!b || b->p != p) fprintf(stderr, "device double: freeing %p, not a block\n", p), abort();
  free(b->p);
  b->p = NULL;
}

static void *dd_host_alloc(size_t bytes, const char *what, RtError *e) {
  (void)what;
  float *p = malloc(bytes ? bytes : 1);
  if (!p) return rt_fail(e, RT_EXIT_FAIL, "device double: out of memory"), NULL;
  for (size_t i = 0; i < bytes / sizeof *p; i++)
    p[i] = NAN;
  return p;
}

static void dd_host_free(void *p) { free(p); }

static int dd_copy(void *dst, const void *src, size_t bytes, int up, RtError *e) {
  struct Block *b = block_of(up ? dst : src, bytes);
  if (!b)
    return rt_fail(e, RT_EXIT_FAIL, "device double: %s of %zu bytes at %p outside device memory",
                   up ? "upload" : "download", bytes, up ? dst : src);
  if (block_of(up ? src : dst, 1))
    return rt_fail(e, RT_EXIT_FAIL, "device double: %s from device memory to device memory",
                   up ? "upload" : "download");
  *(up ? &b->up : &b->down) += 1;
  memcpy(dst, src, bytes);
  return 0;
}

static int dd_upload(void *dst, const void *src, size_t bytes, RtError *e) { return dd_copy(dst, src, bytes, 1, e); }
static int dd_download(void *dst, const void *src, size_t bytes, RtError *e) { return dd_copy(dst, src, bytes, 0, e); }

static int dd_run(const NnrtFunc *f, int fn_id, void **args, const int64_t *syms, void *ws, int64_t step, RtError *e) {
  (void)fn_id, (void)step;
  extern const NnrtModel nnrt_model;
  int nargs = nnrt_model.n_globals + f->n_inputs + f->n_outputs;
  for (int i = 0; i < nargs; i++)
    if (!block_of(args[i], 1))
      return rt_fail(e, RT_EXIT_FAIL, "device double: %s's argument %d (%p) is not device memory", f->name, i, args[i]);
  if (ws && !block_of(ws, 1))
    return rt_fail(e, RT_EXIT_FAIL, "device double: %s's workspace is not device memory", f->name);
  f->fn(args, syms, ws);
  g.runs++;
  return 0;
}

const RtDevice rt_cuda_device = {
    .name = "cuda (test double)",
    .open = dd_open,
    .close = dd_close,
    .alloc = dd_alloc,
    .free = dd_free,
    .host_alloc = dd_host_alloc,
    .host_free = dd_host_free,
    .upload = dd_upload,
    .download = dd_download,
    .run = dd_run,
};
