/* rt_cuda.c — the CUDA runtime of a CUDA binary (libnnrt_cuda.a):
 * rt_cuda_device (rt_device.h) on the driver API, and the host calls the
 * step functions make (nnrt_cu_launch, nnrt_cu_memcpy; nnrt_cu_sgemm is in
 * rt_cuda_blas.c, CUDA Graphs in rt_cuda_graph.c).
 *
 * Nothing of CUDA is linked: libcuda.so.1 (the driver) and libcublasLt are
 * opened with dlopen when a session opens the device, so the binary starts
 * on any machine and says "no CUDA device: <why>" (exit 1) where there is no
 * driver, no GPU, or no code for the GPU it has.
 *
 * The module: NnrtModel.cuda->images holds cubins in ascending SM version,
 * then PTX. A cubin runs on GPUs of its major version from its minor up, so
 * the newest such cubin is taken; else the PTX, which the driver compiles
 * for the GPU (any newer one). Each kernel's function is looked up once,
 * with how many of its blocks fit on the GPU at once: a grid-stride kernel
 * (nnrt_abi.h) needs no more blocks than that, so grids are capped there.
 *
 * Streams: work runs on `compute`; uploads go on `copy` from pinned
 * buffers and record the event `uploaded`; the next launch makes compute
 * wait for it, so a batch's copy is ordered before the step that reads it
 * without blocking the host, and the next batch's copy, issued after a
 * launch, runs beside that step (rt_mirror.c). Downloads wait for compute. Every call is checked; an error names the
 * call, and, for work the step functions enqueue, the kernel, the function
 * and the training step. */
#define _POSIX_C_SOURCE 200809L
#include "rt_cuda.h"
#include "rt_device.h"
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

RtCuda rt_cu;

#define RT_SYM(field, sym, ret, params) {sym, offsetof(RT_SYM_TABLE, field)},
#define RT_SYM_TABLE RtCuApi
const RtSym rt_cu_driver_syms[] = {RT_CU_DRIVER_API(RT_SYM)};
#undef RT_SYM_TABLE
#define RT_SYM_TABLE RtLtApi
const RtSym rt_cu_lt_syms[] = {RT_CUBLASLT_API(RT_SYM)};
#undef RT_SYM_TABLE
#undef RT_SYM
const int rt_cu_n_driver_syms = (int)(sizeof rt_cu_driver_syms / sizeof rt_cu_driver_syms[0]);
const int rt_cu_n_lt_syms = (int)(sizeof rt_cu_lt_syms / sizeof rt_cu_lt_syms[0]);

const char *rt_cuda_dlsyms(void *lib, const RtSym *syms, int n, void *table) {
  for (int i = 0; i < n; i++) {
    void *p = dlsym(lib, syms[i].name);
    if (!p) return syms[i].name;
    memcpy((char *)table + syms[i].offset, &p, sizeof p); /* POSIX: a function's address as void * */
  }
  return NULL;
}

const char *rt_cu_strerror(RtCUresult r, char *buf, size_t size) {
  const char *name = NULL, *text = NULL;
  if (rt_cu.cu.GetErrorName) rt_cu.cu.GetErrorName(r, &name);
  if (rt_cu.cu.GetErrorString) rt_cu.cu.GetErrorString(r, &text);
  if (name)
    snprintf(buf, size, "%s (%s)", name, text ? text : "no description");
  else
    snprintf(buf, size, "CUDA error %d", r);
  return buf;
}

void rt_cu_record(const char *fmt, ...) {
  if (rt_cu.failed) return; /* the first error is the cause; later ones follow from it */
  rt_cu.failed = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rt_cu.err, sizeof rt_cu.err, fmt, ap);
  va_end(ap);
}

/* A driver call's failure as "what: CUDA_ERROR_... (text)" in e. */
static int cu_fail(RtError *e, RtCUresult r, const char *what) {
  char buf[256];
  return rt_fail(e, RT_EXIT_FAIL, "%s: %s", what, rt_cu_strerror(r, buf, sizeof buf));
}

#define CU_CHECK(call, what)                                                                                           \
  do {                                                                                                                 \
    RtCUresult r_ = (call);                                                                                            \
    if (r_) return cu_fail(e, r_, what);                                                                               \
  } while (0)

/* "no CUDA device: <why>" (rt_device.h's contract for open). */
static int no_device(RtError *e, const char *fmt, ...) RT_PRINTF(2, 3);
static int no_device(RtError *e, const char *fmt, ...) {
  char why[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  return rt_fail(e, RT_EXIT_FAIL, "no CUDA device: %s", why);
}

static void *open_lib(const char *const *names, char *why, size_t size) {
  why[0] = '\0';
  for (int i = 0; names[i]; i++) {
    void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (lib) return lib;
    if (!why[0]) snprintf(why, size, "%s", dlerror()); /* the first name's reason: the one that should exist */
  }
  return NULL;
}

/* The driver and the device: "no CUDA device" for anything missing. */
static int open_driver(int ordinal, RtError *e) {
  static const char *const names[] = {"libcuda.so.1", NULL};
  char why[512], buf[256];
  if (!(rt_cu.libcuda = open_lib(names, why, sizeof why)))
    return no_device(e, "cannot load the NVIDIA driver (%s)", why);
  const char *missing = rt_cuda_dlsyms(rt_cu.libcuda, rt_cu_driver_syms, rt_cu_n_driver_syms, &rt_cu.cu);
  if (missing) return no_device(e, "the NVIDIA driver lacks %s (it is older than CUDA 12; update it)", missing);
  RtCUresult r = rt_cu.cu.Init(0);
  if (r) return no_device(e, "cuInit: %s", rt_cu_strerror(r, buf, sizeof buf));
  int count = 0;
  if ((r = rt_cu.cu.DeviceGetCount(&count)))
    return no_device(e, "cuDeviceGetCount: %s", rt_cu_strerror(r, buf, sizeof buf));
  if (count < 1) return no_device(e, "the driver sees no GPU");
  if (ordinal >= count)
    return no_device(e, "--device %d, but this machine has %d CUDA device%s (0 to %d)", ordinal, count,
                     count == 1 ? "" : "s", count - 1);
  int major = 0, minor = 0;
  if ((r = rt_cu.cu.DeviceGet(&rt_cu.dev, ordinal)) ||
      (r = rt_cu.cu.DeviceGetAttribute(&major, RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, rt_cu.dev)) ||
      (r = rt_cu.cu.DeviceGetAttribute(&minor, RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, rt_cu.dev)) ||
      (r = rt_cu.cu.DeviceGetAttribute(&rt_cu.sms, RT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, rt_cu.dev)) ||
      (r = rt_cu.cu.DeviceGetName(rt_cu.name, (int)sizeof rt_cu.name, rt_cu.dev)))
    return no_device(e, "device %d: %s", ordinal, rt_cu_strerror(r, buf, sizeof buf));
  rt_cu.ordinal = ordinal;
  rt_cu.sm = 10 * major + minor;
  if ((r = rt_cu.cu.DevicePrimaryCtxRetain(&rt_cu.ctx, rt_cu.dev)))
    return no_device(e, "device %d (%s): cuDevicePrimaryCtxRetain: %s", ordinal, rt_cu.name,
                     rt_cu_strerror(r, buf, sizeof buf));
  CU_CHECK(rt_cu.cu.CtxSetCurrent(rt_cu.ctx), "cuCtxSetCurrent");
  return 0;
}

/* The image for this GPU: the newest cubin of its major version not newer
 * than it, else PTX not newer than it; NULL if none fits. */
static const NnrtCuImage *pick_image(const NnrtCuda *c, int sm) {
  const NnrtCuImage *best = NULL, *ptx = NULL;
  for (int32_t i = 0; i < c->n_images; i++) {
    const NnrtCuImage *im = &c->images[i];
    if (im->is_ptx && im->arch <= sm && (!ptx || im->arch > ptx->arch)) ptx = im;
    if (!im->is_ptx && im->arch / 10 == sm / 10 && im->arch <= sm && (!best || im->arch > best->arch)) best = im;
  }
  return best ? best : ptx;
}

static int load_module(const NnrtCuda *c, RtError *e) {
  const NnrtCuImage *im = pick_image(c, rt_cu.sm);
  if (!im) {
    char have[256] = "";
    size_t at = 0;
    for (int32_t i = 0; i < c->n_images && at < sizeof have; i++)
      at += (size_t)snprintf(have + at, sizeof have - at, "%s%s_%d", i ? ", " : "",
                             c->images[i].is_ptx ? "compute" : "sm", c->images[i].arch);
    return no_device(e,
                     "device %d (%s) is sm_%d, but the binary holds code for %s only; rebuild it with nnc build "
                     "--gpu-arch=sm_%d",
                     rt_cu.ordinal, rt_cu.name, rt_cu.sm, at ? have : "no GPU", rt_cu.sm);
  }
  char log[4096] = "";
  int opts[2] = {RT_CU_JIT_ERROR_LOG_BUFFER, RT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *vals[2] = {log, (void *)(uintptr_t)sizeof log};
  RtCUresult r = rt_cu.cu.ModuleLoadDataEx(&rt_cu.mod, im->data, 2, opts, vals);
  if (r) {
    char buf[256];
    return no_device(e, "device %d (%s): cannot load the %s for %s_%d: %s%s%s", rt_cu.ordinal, rt_cu.name,
                     im->is_ptx ? "PTX" : "cubin", im->is_ptx ? "compute" : "sm", im->arch,
                     rt_cu_strerror(r, buf, sizeof buf), log[0] ? "\n" : "", log);
  }
  int32_t n = c->n_kernels;
  rt_cu.fn = calloc(n > 0 ? (size_t)n : 1, sizeof *rt_cu.fn);
  rt_cu.max_blocks = calloc(n > 0 ? (size_t)n : 1, sizeof *rt_cu.max_blocks);
  if (!rt_cu.fn || !rt_cu.max_blocks) return rt_fail(e, RT_EXIT_FAIL, "out of memory loading the CUDA kernels");
  for (int32_t k = 0; k < n; k++) {
    const NnrtCuKernel *kk = &c->kernels[k];
    char what[300];
    snprintf(what, sizeof what, "kernel %s: cuModuleGetFunction", kk->name);
    CU_CHECK(rt_cu.cu.ModuleGetFunction(&rt_cu.fn[k], rt_cu.mod, kk->name), what);
    int per_sm = 0;
    snprintf(what, sizeof what, "kernel %s (block %d): cuOccupancyMaxActiveBlocksPerMultiprocessor", kk->name,
             kk->block);
    CU_CHECK(rt_cu.cu.OccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, rt_cu.fn[k], kk->block, 0), what);
    if (per_sm < 1)
      return rt_fail(e, RT_EXIT_FAIL, "kernel %s cannot run with blocks of %d threads on %s (too many registers?)",
                     kk->name, kk->block, rt_cu.name);
    rt_cu.max_blocks[k] = per_sm * rt_cu.sms;
  }
  return 0;
}

static void cuda_close(void);

static int cuda_open(const NnrtModel *m, int ordinal, RtError *e) {
  if (rt_cu.m) return rt_fail(e, RT_EXIT_FAIL, "internal: the CUDA device is open already");
  memset(&rt_cu, 0, sizeof rt_cu);
  rt_cu.m = m;
  rt_cu.step = -1;
  rt_cu.last_kernel = -1;
  int rc = open_driver(ordinal, e);
  if (!rc) rc = load_module(m->cuda, e);
  if (!rc) {
    RtCUresult r;
    if ((r = rt_cu.cu.StreamCreate(&rt_cu.compute, RT_CU_STREAM_NON_BLOCKING)) ||
        (r = rt_cu.cu.StreamCreate(&rt_cu.copy, RT_CU_STREAM_NON_BLOCKING)) ||
        (r = rt_cu.cu.EventCreate(&rt_cu.uploaded, RT_CU_EVENT_DISABLE_TIMING)))
      rc = cu_fail(e, r, "creating the CUDA streams");
  }
  if (!rc) rc = rt_cu_blas_open(e);
  if (rc) cuda_close();
  return rc;
}

static void cuda_close(void) {
  if (!rt_cu.m) return;
  rt_cu_graph_reset();
  if (rt_cu.copy) rt_cu.cu.StreamSynchronize(rt_cu.copy);
  if (rt_cu.compute) rt_cu.cu.StreamSynchronize(rt_cu.compute);
  rt_cu_blas_close();
  if (rt_cu.uploaded) rt_cu.cu.EventDestroy(rt_cu.uploaded);
  if (rt_cu.copy) rt_cu.cu.StreamDestroy(rt_cu.copy);
  if (rt_cu.compute) rt_cu.cu.StreamDestroy(rt_cu.compute);
  if (rt_cu.mod) rt_cu.cu.ModuleUnload(rt_cu.mod);
  if (rt_cu.ctx) rt_cu.cu.DevicePrimaryCtxRelease(rt_cu.dev);
  free(rt_cu.fn);
  free(rt_cu.max_blocks);
  /* The libraries stay loaded: unloading the driver under live threads of
   * its own is not safe, and the process ends soon after. */
  void *libcuda = rt_cu.libcuda, *liblt = rt_cu.liblt;
  memset(&rt_cu, 0, sizeof rt_cu);
  rt_cu.libcuda = libcuda, rt_cu.liblt = liblt;
}

/* "out of GPU memory: 1.07 GB for the workspace, 512 MB of 80 GB free". */
static int oom(RtError *e, RtCUresult r, size_t bytes, const char *what, const char *kind) {
  size_t free_b = 0, total = 0;
  char buf[256], want[32], fr[32], tot[32];
  if (rt_cu.cu.MemGetInfo(&free_b, &total))
    return rt_fail(e, RT_EXIT_FAIL, "cannot allocate %s for %s: %s", rt_human(want, sizeof want, (double)bytes, "B"),
                   what, rt_cu_strerror(r, buf, sizeof buf));
  return rt_fail(e, RT_EXIT_FAIL, "cannot allocate %s of %s memory for %s (%s of %s free on %s): %s",
                 rt_human(want, sizeof want, (double)bytes, "B"), kind, what,
                 rt_human(fr, sizeof fr, (double)free_b, "B"), rt_human(tot, sizeof tot, (double)total, "B"),
                 rt_cu.name, rt_cu_strerror(r, buf, sizeof buf));
}

static void *cuda_alloc(size_t bytes, const char *what, RtError *e) {
  RtCUdeviceptr p = 0;
  RtCUresult r = rt_cu.cu.MemAlloc(&p, bytes ? bytes : 1); /* 256-byte aligned */
  if (r) return oom(e, r, bytes, what, "GPU"), NULL;
  return (void *)(uintptr_t)p;
}

/* Both streams drained: an upload of a batch that never ran (a run cut
 * short) may still be copying from or to what is freed. */
static void drain(void) {
  if (rt_cu.copy) rt_cu.cu.StreamSynchronize(rt_cu.copy);
  if (rt_cu.compute) rt_cu.cu.StreamSynchronize(rt_cu.compute);
}

static void cuda_free(void *p) {
  if (!p) return;
  drain();
  rt_cu.cu.MemFree((RtCUdeviceptr)(uintptr_t)p);
}

static void *cuda_host_alloc(size_t bytes, const char *what, RtError *e) {
  void *p = NULL;
  RtCUresult r = rt_cu.cu.MemHostAlloc(&p, bytes ? bytes : 1, RT_CU_MEMHOSTALLOC_PORTABLE);
  if (r) return oom(e, r, bytes, what, "pinned host"), NULL;
  memset(p, 0, bytes); /* as rt_alloc's: a batch's unused labels read as zeros */
  return p;
}

static void cuda_host_free(void *p) {
  if (!p) return;
  drain();
  rt_cu.cu.MemFreeHost(p);
}

/* " at step 12", or "" outside training: the step launched last. */
static const char *at_step(char *buf, size_t size) {
  buf[0] = '\0';
  if (rt_cu.step >= 0) snprintf(buf, size, " at step %lld", (long long)rt_cu.step);
  return buf;
}

/* "CUDA error at step 12: copying 401408 bytes to the device:
 * cuMemcpyHtoDAsync: CUDA_ERROR_...". */
static int copy_fail(RtError *e, RtCUresult r, const char *dir, size_t bytes, const char *call) {
  char buf[256], where[64];
  return rt_fail(e, RT_EXIT_FAIL, "CUDA error%s: copying %zu bytes %s: %s: %s", at_step(where, sizeof where), bytes,
                 dir, call, rt_cu_strerror(r, buf, sizeof buf));
}

static int cuda_upload(void *dst, const void *src, size_t bytes, RtError *e) {
  if (!bytes) return 0;
  RtCUresult r = rt_cu.cu.MemcpyHtoDAsync((RtCUdeviceptr)(uintptr_t)dst, src, bytes, rt_cu.copy);
  if (r) return copy_fail(e, r, "to the device", bytes, "cuMemcpyHtoDAsync");
  if ((r = rt_cu.cu.EventRecord(rt_cu.uploaded, rt_cu.copy)))
    return copy_fail(e, r, "to the device", bytes, "cuEventRecord");
  rt_cu.upload_pending = 1; /* the next launch makes compute wait for it */
  return 0;
}

static int cuda_download(void *dst, const void *src, size_t bytes, RtError *e) {
  if (!bytes) return 0;
  RtCUresult r = rt_cu.cu.MemcpyDtoHAsync(dst, (RtCUdeviceptr)(uintptr_t)src, bytes, rt_cu.compute);
  if (r) return copy_fail(e, r, "from the device", bytes, "cuMemcpyDtoHAsync");
  if ((r = rt_cu.cu.StreamSynchronize(rt_cu.compute)))
    return copy_fail(e, r, "from the device", bytes, "cuStreamSynchronize");
  return 0;
}

/* Profiling (`profile`): the step function calls nnrt_prof_hook around each
 * kernel; on a GPU the kernel has only been enqueued, so the hook the
 * runtime installed is called after the stream drains. */
static NnrtProfHook g_user_hook;

static void synced_hook(int32_t fn, int32_t kernel, int32_t end) {
  RtCUresult r = rt_cu.cu.StreamSynchronize(rt_cu.compute);
  if (r) {
    char buf[256];
    rt_cu_record("cuStreamSynchronize (profiling): %s", rt_cu_strerror(r, buf, sizeof buf));
  }
  g_user_hook(fn, kernel, end);
}

/* --check-numerics (rt_numerics.c): the step function calls nnrt_check_hook
 * after enqueuing each kernel, and the hook downloads the kernel's values
 * (which waits for it). A kernel that could not be enqueued wrote nothing:
 * its values are not checked, and the launch reports why it failed. */
static NnrtCheckHook g_user_check;

static void enqueued_check(int32_t fn, int32_t kernel, int32_t w, const void *data, int64_t numel) {
  if (!rt_cu.failed) g_user_check(fn, kernel, w, data, numel);
}

static int cuda_launch(const NnrtFunc *f, int fn_id, void **args, const int64_t *syms, void *ws, int64_t step,
                       RtError *e) {
  rt_cu.fn_name = f->name;
  rt_cu.step = step;
  rt_cu.failed = 0;
  rt_cu.err[0] = '\0';
  rt_cu.last_kernel = -1;
  char where[64];
  if (rt_cu.upload_pending) { /* after every upload so far, before any of f's work (and outside a capture) */
    RtCUresult r = rt_cu.cu.StreamWaitEvent(rt_cu.compute, rt_cu.uploaded, 0);
    if (r) {
      char buf[256];
      return rt_fail(e, RT_EXIT_FAIL, "CUDA error in %s%s: cuStreamWaitEvent (the batch's upload): %s", f->name,
                     at_step(where, sizeof where), rt_cu_strerror(r, buf, sizeof buf));
    }
    rt_cu.upload_pending = 0;
  }
  int nargs = rt_cu.m->n_globals + f->n_inputs + f->n_outputs;
  int rc = 0;
  if (nnrt_prof_hook || nnrt_check_hook) {
    /* Kernel by kernel, no graph: each kernel's time is its own, and each
     * value is checked after the kernel that writes it, before the memory
     * plan gives its workspace to the next value. */
    g_user_hook = nnrt_prof_hook, g_user_check = nnrt_check_hook;
    if (g_user_hook) nnrt_prof_hook = synced_hook;
    if (g_user_check) nnrt_check_hook = enqueued_check;
    f->fn(args, syms, ws);
    nnrt_prof_hook = g_user_hook, nnrt_check_hook = g_user_check;
  } else {
    rc = rt_cu_graph_run(f, fn_id, args, nargs, syms, ws);
  }
  if (rt_cu.failed || rc) { /* enqueuing failed: let what was enqueued end, then say what failed */
    rt_cu.cu.StreamSynchronize(rt_cu.compute);
    return rt_fail(e, RT_EXIT_FAIL, "CUDA error in %s%s: %s", f->name, at_step(where, sizeof where), rt_cu.err);
  }
  return 0;
}

static int cuda_wait(RtError *e) {
  RtCUresult r = rt_cu.cu.StreamSynchronize(rt_cu.compute);
  if (!r) return 0;
  char buf[256], last[300] = "", where[64];
  const NnrtCuda *c = rt_cu.m->cuda;
  if (rt_cu.last_kernel >= 0)
    snprintf(last, sizeof last,
             " (the last kernel enqueued was %s; kernels run asynchronously, so "
             "CUDA_LAUNCH_BLOCKING=1 names the one that failed)",
             c->kernels[rt_cu.last_kernel].name);
  return rt_fail(e, RT_EXIT_FAIL, "CUDA error in %s%s: cuStreamSynchronize: %s%s",
                 rt_cu.fn_name ? rt_cu.fn_name : "the device", at_step(where, sizeof where),
                 rt_cu_strerror(r, buf, sizeof buf), last);
}

const RtDevice rt_cuda_device = {
    .name = "cuda",
    .open = cuda_open,
    .close = cuda_close,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .launch = cuda_launch,
    .wait = cuda_wait,
};

/* ---- called by the step functions ---- */

void nnrt_cu_launch(int32_t kernel, const NnrtCuArgs *args) {
  const NnrtCuda *c = rt_cu.m ? rt_cu.m->cuda : NULL;
  if (rt_cu.failed || !c) return;
  if (kernel < 0 || kernel >= c->n_kernels) {
    rt_cu_record("kernel number %d is outside the module's %d kernels (a compiler bug)", kernel, c->n_kernels);
    return;
  }
  const NnrtCuKernel *k = &c->kernels[kernel];
  if (args->work <= 0) return; /* nothing to do: a zero-size tensor */
  /* rows == 0: a thread per element per pass; rows == 1: a block per row. */
  int64_t blocks = k->rows ? args->work : (args->work + k->block - 1) / k->block;
  if (blocks > rt_cu.max_blocks[kernel]) blocks = rt_cu.max_blocks[kernel];
  void *params[1] = {(void *)args}; /* the NnrtCuArgs by value: the driver copies it at launch */
  RtCUresult r = rt_cu.cu.LaunchKernel(rt_cu.fn[kernel], (unsigned)blocks, 1, 1, (unsigned)k->block, 1, 1, 0,
                                       rt_cu.compute, params, NULL);
  rt_cu.last_kernel = kernel;
  if (r) {
    char buf[256];
    rt_cu_record("kernel %s (%lld blocks of %d threads, %lld work items): cuLaunchKernel: %s", k->name,
                 (long long)blocks, k->block, (long long)args->work, rt_cu_strerror(r, buf, sizeof buf));
  }
}

void nnrt_cu_memcpy(void *dst, const void *src, int64_t bytes) {
  if (rt_cu.failed || bytes <= 0) return;
  RtCUresult r = rt_cu.cu.MemcpyDtoDAsync((RtCUdeviceptr)(uintptr_t)dst, (RtCUdeviceptr)(uintptr_t)src, (size_t)bytes,
                                          rt_cu.compute);
  if (r) {
    char buf[256];
    rt_cu_record("a device copy of %lld bytes after kernel %s: cuMemcpyDtoDAsync: %s", (long long)bytes,
                 rt_cu.last_kernel >= 0 ? rt_cu.m->cuda->kernels[rt_cu.last_kernel].name : "(none)",
                 rt_cu_strerror(r, buf, sizeof buf));
  }
}

/* ---- the matrix-product engine (nnrt.h): cuBLASLt, no OpenBLAS ---- */

void rt_gemm_setup(void) {}

const char *rt_gemm_engine(void) {
  static char buf[200];
  if (!rt_cu.m) return "CUDA kernels and cuBLASLt";
  snprintf(buf, sizeof buf, "CUDA kernels and cuBLASLt on %s (sm_%d, device %d)", rt_cu.name, rt_cu.sm, rt_cu.ordinal);
  return buf;
}
