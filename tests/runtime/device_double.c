/* device_double.c — a test double of rt_cuda_device (rt_device.h) for
 * binaries built from fake_model.c with FAKE_CUDA: "device memory" is
 * malloc'd blocks apart from the session's host copies, and run calls the
 * (host) step function on them. A mirror bug (a missing upload or download,
 * a host pointer handed to a step) then shows as results that differ from
 * the CPU binary's, or as a failure here:
 *   - run checks that every argument and the workspace lie in device blocks;
 *   - every transfer must stay inside one block;
 *   - pinned host buffers are filled with NaN when allocated, so reading one
 *     before anything was downloaded into it shows;
 *   - a launched function runs only when it is waited for (or a download
 *     waits for it), and uploads copy at once: an upload into memory the
 *     step reads, issued while the step "runs" (the next batch's, say),
 *     changes its result.
 * NNRT_TEST_DEVICE_LOG=1 prints, when the device closes, how many device
 * allocations there were and the transfers at each place by its block's
 * name and offset ("the device arena+0: 1 up, 1 down": the globals lead
 * the arena), so tests can check that the session allocates once and that
 * the globals travel only when the host needs them.
 * --device 0 is the only device; another says "no CUDA device". */
#include "rt_device.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_BLOCKS = 64, MAX_PLACES = 64, MAX_ARGS = 1024 };

static struct {
  int open;
  struct Block {
    char *p;
    size_t bytes;
    char what[64];
  } b[MAX_BLOCKS];
  int n;
  struct Place { /* transfers to or from one address */
    int block;
    size_t offset;
    int64_t up, down;
  } place[MAX_PLACES];
  int n_places;
  int64_t runs;
  /* The launched function, until it is waited for. */
  const NnrtFunc *f;
  void *args[MAX_ARGS];
  int64_t syms[NNRT_MAX_SYMS];
  void *ws;
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
  if (g.f) fprintf(stderr, "device double: closed while %s runs\n", g.f->name), abort();
  if (getenv("NNRT_TEST_DEVICE_LOG")) {
    fprintf(stderr, "device double: %d device allocations\n", g.n);
    for (int i = 0; i < g.n_places; i++) {
      struct Place *pl = &g.place[i];
      fprintf(stderr, "device double: %s+%zu: %lld up, %lld down\n", g.b[pl->block].what, pl->offset, (long long)pl->up,
              (long long)pl->down);
    }
  }
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
  snprintf(b->what, sizeof b->what, "%.*s", (int)strcspn(what, "("), what); /* "the device arena (...)": its name */
  size_t n = strlen(b->what);
  while (n && b->what[n - 1] == ' ')
    b->what[--n] = '\0';
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
  size_t offset = (size_t)((const char *)(up ? dst : src) - b->p);
  struct Place *pl = NULL;
  for (int i = 0; i < g.n_places && !pl; i++)
    if (g.place[i].block == b - g.b && g.place[i].offset == offset) pl = &g.place[i];
  if (!pl && g.n_places < MAX_PLACES) pl = &g.place[g.n_places++], *pl = (struct Place){(int)(b - g.b), offset, 0, 0};
  if (pl) *(up ? &pl->up : &pl->down) += 1;
  memcpy(dst, src, bytes);
  return 0;
}

static int dd_wait(RtError *e) {
  (void)e;
  if (!g.f) return 0;
  const NnrtFunc *f = g.f;
  g.f = NULL;
  f->fn(g.args, g.syms, g.ws);
  g.runs++;
  return 0;
}

static int dd_upload(void *dst, const void *src, size_t bytes, RtError *e) { return dd_copy(dst, src, bytes, 1, e); }
static int dd_download(void *dst, const void *src, size_t bytes, RtError *e) {
  return dd_wait(e) || dd_copy(dst, src, bytes, 0, e) ? -1 : 0;
}

static int dd_launch(const NnrtFunc *f, int fn_id, void **args, const int64_t *syms, void *ws, int64_t step,
                     RtError *e) {
  (void)fn_id, (void)step;
  extern const NnrtModel nnrt_model;
  int nargs = nnrt_model.n_globals + f->n_inputs + f->n_outputs;
  if (g.f) return rt_fail(e, RT_EXIT_FAIL, "device double: %s launched while %s runs", f->name, g.f->name);
  if (nargs > MAX_ARGS || nnrt_model.n_syms > NNRT_MAX_SYMS)
    return rt_fail(e, RT_EXIT_FAIL, "device double: too many arguments or syms");
  for (int i = 0; i < nargs; i++)
    if (!block_of(args[i], 1))
      return rt_fail(e, RT_EXIT_FAIL, "device double: %s's argument %d (%p) is not device memory", f->name, i, args[i]);
  if (ws && !block_of(ws, 1))
    return rt_fail(e, RT_EXIT_FAIL, "device double: %s's workspace is not device memory", f->name);
  memcpy(g.args, args, (size_t)nargs * sizeof *args); /* as they are at launch */
  memcpy(g.syms, syms, (size_t)nnrt_model.n_syms * sizeof *syms);
  g.ws = ws;
  g.f = f;
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
    .launch = dd_launch,
    .wait = dd_wait,
};
