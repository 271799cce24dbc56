/* rt_cuemu.c — the emulated CUDA runtime, for tests without a GPU.
 *
 * It defines what a CUDA binary's host code calls (nnrt_cu_launch,
 * nnrt_cu_sgemm, nnrt_cu_sgemm_batch, nnrt_cu_sgemm_ep, nnrt_cu_memcpy) and the device table
 * rt_cuda_device (rt_device.h) on host memory: "device" buffers are host
 * allocations, a launch runs the kernel's host-compiled CUDA C through
 * tests/cuda/emu.h (nnrt_cuemu_run: blocks of fibers), and the GEMMs are the
 * CPU runtime's own nnrt_sgemm / nnrt_sgemm_batch, so products match a CPU
 * binary's bit for bit and only the generated kernels are under test.
 *
 * The kernel source, compiled with g++ -DNNRT_CUDA_EMU -include emu.h,
 * exports nnrt_cuemu_kernels: {name, call} rows ended by {0, 0}
 * (codegen/cuda/host.c writes it); a kernel number is resolved to its row by
 * the name in nnrt_model.cuda->kernels, once. The grid is chosen as the real
 * runtime chooses it (NNRT_CUEMU_GRID_CAP lowers the cap, so tests can make
 * every stride loop go round).
 *
 * Test-only: linked into the test harness's emulated binaries
 * (libnnrt_cuemu.a), never into a binary nnc ships. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nnrt.h"
#include "../rt_device.h"

/* From the kernel source (tests/cuda/emu.h's NnrtCuEmuKernel). */
typedef struct NnrtCuEmuKernel {
  const char *name;
  void (*call)(const void *args);
} NnrtCuEmuKernel;
extern const NnrtCuEmuKernel nnrt_cuemu_kernels[];
void nnrt_cuemu_run(const char *name, void (*call)(const void *), const void *args, unsigned grid, unsigned block);

/* The runtime's GEMMs (rt_blas.c). */
void nnrt_sgemm(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
void nnrt_sgemm_batch(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                      int64_t stride_a, const float *b, int64_t ldb, int64_t stride_b, float beta, float *c, int64_t ldc,
                      int64_t stride_c, int64_t count);

/* Blocks the real runtime launches at most per kernel: a few per SM of an
 * H100 (132 SMs); stride loops cover the rest. */
#define CUEMU_GRID_CAP (132 * 4)

static struct {
  const NnrtModel *model;
  void (**calls)(const void *); /* per kernel number: resolved, or NULL */
  int64_t step;
  const char *fn_name; /* the function launched last */
  char error[512];     /* the first failure of the running step, or "" */
  unsigned grid_cap;
} emu;

/* The two streams, emulated with rt_device.h's ordering taken to its
 * edges, so that a session that relies on more than it promises shows as
 * results that differ from the serial path's:
 *   - by default an upload is copied at once and a launched function runs
 *     only when something waits for it (wait, a download, the next launch):
 *     a copy into memory the step reads, issued while it "runs", changes
 *     what it reads;
 *   - NNRT_CUEMU_COPY_LATE=1: the function runs at launch, and uploads are
 *     copied only at the next launch, from their pinned source as it is
 *     then: a step launched before its batch's upload, or a source
 *     rewritten before the launch that waits for its copy, reads the wrong
 *     batch. */
static struct {
  int late; /* NNRT_CUEMU_COPY_LATE */
  struct Upload {
    void *dst;
    const void *src;
    size_t bytes;
  } *up;
  int n_up, cap_up;
  /* The launched function, until it runs. */
  const NnrtFunc *f;
  void **args;
  int64_t *syms;
  void *ws;
} streams;

static void record(const char *fmt, ...) {
  if (emu.error[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(emu.error, sizeof emu.error, fmt, ap);
  va_end(ap);
}

static const NnrtModel *model(void) { return emu.model ? emu.model : &nnrt_model; }

static void (*resolve(int32_t kernel))(const void *) {
  const NnrtCuda *cu = model()->cuda;
  if (!cu || kernel < 0 || kernel >= cu->n_kernels) return NULL;
  if (!emu.calls) {
    emu.calls = calloc((size_t)cu->n_kernels, sizeof *emu.calls);
    if (!emu.calls) return NULL;
  }
  if (!emu.calls[kernel])
    for (const NnrtCuEmuKernel *k = nnrt_cuemu_kernels; k->name; k++)
      if (!strcmp(k->name, cu->kernels[kernel].name)) emu.calls[kernel] = k->call;
  return emu.calls[kernel];
}

static unsigned grid_cap(void) {
  if (!emu.grid_cap) {
    const char *s = getenv("NNRT_CUEMU_GRID_CAP");
    long v = s && *s ? strtol(s, NULL, 10) : 0;
    emu.grid_cap = v > 0 && v < CUEMU_GRID_CAP ? (unsigned)v : CUEMU_GRID_CAP;
  }
  return emu.grid_cap;
}

void nnrt_cu_launch(int32_t kernel, const NnrtCuArgs *args) {
  const NnrtCuda *cu = model()->cuda;
  void (*call)(const void *) = resolve(kernel);
  if (!call) {
    if (!cu || kernel < 0 || kernel >= cu->n_kernels)
      record("kernel number %d is not in the model's kernel table", (int)kernel);
    else
      record("kernel %s is not in the emulated module (nnrt_cuemu_kernels)", cu->kernels[kernel].name);
    return;
  }
  const NnrtCuKernel *k = &cu->kernels[kernel];
  if (args->work < 0) {
    record("kernel %s: negative work %lld", k->name, (long long)args->work);
    return;
  }
  if (args->work == 0) return;
  if (k->block < 32 || k->block > 1024 || k->block % 32) {
    record("kernel %s: block of %d threads (a multiple of 32 up to 1024 expected)", k->name, (int)k->block);
    return;
  }
  /* rows: one block per row; elements: one thread per element; both capped. */
  int64_t want = k->rows ? args->work : (args->work + k->block - 1) / k->block;
  unsigned grid = want < (int64_t)grid_cap() ? (unsigned)want : grid_cap();
  nnrt_cuemu_run(k->name, call, args, grid, (unsigned)k->block);
}

void nnrt_cu_sgemm(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  nnrt_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void nnrt_cu_sgemm_batch(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                         int64_t lda, int64_t stride_a, const float *b, int64_t ldb, int64_t stride_b, float beta,
                         float *c, int64_t ldc, int64_t stride_c, int64_t count) {
  nnrt_sgemm_batch(ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc, stride_c, count);
}

/* ---- cuBLASLt's epilogues, as cublasLt.h defines them ----
 *
 * The product first (nnrt_sgemm, the CPU's bits), then the epilogue on each
 * element of it in row-major terms (nnrt_abi.h, NNRT_CU_EP_*): a bias per
 * column, ReLU or GELU (tanh form, the constants of ir/ir.h), the ReLU
 * bitmask (bit i*ldaux+j, little-endian within each byte) or GELU's input
 * as aux, the gradients selecting by that bit or multiplying by gelu' of
 * aux, bias gradients summed down each column in row order (the CPU's
 * order; cuBLASLt's may differ within f32 rounding), and an operand's bias
 * gradient (BGRADA: op(B)'s, BGRADB: op(A)'s) summed over k in order. The
 * arithmetic is
 * f32's, operation by operation as codegen/cpu/k_elem.c and
 * passes/vjp.c's rules compute the same values. */

#define CUEMU_GELU_C 0.7978845608028654f /* ir.h's IR_GELU_C, IR_GELU_A */
#define CUEMU_GELU_A 0.044715f

static float gelu(float x) {
  float u = x * ((1.f + x * x * CUEMU_GELU_A) * CUEMU_GELU_C);
  return 0.5f * x * (1.f + tanhf(u));
}

/* passes/vjp.c's vjp_gelu: 0.5 (1 + t) + 0.5 x (1 - t^2) C (1 + 3 A x^2). */
static float gelu_grad(float x) {
  float x2 = x * x, t = tanhf(x * ((1.f + x2 * CUEMU_GELU_A) * CUEMU_GELU_C));
  float du = CUEMU_GELU_C * (1.f + x2 * (3 * CUEMU_GELU_A));
  return 0.5f * (1.f + t) + 0.5f * x * ((1.f - t * t) * du);
}

void nnrt_cu_sgemm_ep(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                      const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int32_t ep, float *bias,
                      void *aux, int64_t ldaux) {
  bool has_bias = ep == NNRT_CU_EP_BIAS || ep == NNRT_CU_EP_RELU_BIAS || ep == NNRT_CU_EP_RELU_AUX_BIAS ||
                  ep == NNRT_CU_EP_GELU_BIAS || ep == NNRT_CU_EP_GELU_AUX_BIAS;
  bool bgrad = ep == NNRT_CU_EP_DRELU_BGRAD || ep == NNRT_CU_EP_DGELU_BGRAD || ep == NNRT_CU_EP_BGRADA ||
               ep == NNRT_CU_EP_BGRADB;
  bool relu_aux = ep == NNRT_CU_EP_RELU_AUX_BIAS || ep == NNRT_CU_EP_DRELU || ep == NNRT_CU_EP_DRELU_BGRAD;
  bool gelu_aux = ep == NNRT_CU_EP_GELU_AUX_BIAS || ep == NNRT_CU_EP_DGELU || ep == NNRT_CU_EP_DGELU_BGRAD;
  /* cuBLASLt's own requirements (cublasLt.h, EPILOGUE_AUX_LD), checked so
   * that the emulation fails where the library would. */
  const char *bad = !nnrt_cu_ep_name(ep)             ? "an unknown epilogue"
                    : (has_bias || bgrad) && !bias   ? "no bias vector"
                    : (relu_aux || gelu_aux) && !aux ? "no aux matrix"
                    : relu_aux && (ldaux % 128 || ldaux < n)
                        ? "a ReLU bitmask's row stride (bits) not a multiple of 128 >= n"
                    : gelu_aux && (ldaux % 8 || ldaux < n) ? "GELU's aux row stride not a multiple of 8 >= n"
                                                           : NULL;
  if (bad) {
    record("nnrt_cu_sgemm_ep (epilogue %d, %lld x %lld, ldaux %lld): %s", (int)ep, (long long)m, (long long)n,
           (long long)ldaux, bad);
    return;
  }
  nnrt_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  unsigned char *bits = aux;
  float *fx = aux;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      float *d = &c[i * ldc + j], x = *d;
      int64_t at = i * ldaux + j;
      if (has_bias) x += bias[j];
      if (ep == NNRT_CU_EP_RELU_AUX_BIAS) {
        if (x > 0)
          bits[at / 8] |= (unsigned char)(1u << (at % 8));
        else
          bits[at / 8] &= (unsigned char)~(1u << (at % 8));
      }
      if (ep == NNRT_CU_EP_GELU_AUX_BIAS) fx[at] = x;
      if (ep == NNRT_CU_EP_RELU_BIAS || ep == NNRT_CU_EP_RELU_AUX_BIAS) x = x > 0 ? x : 0.f;
      if (ep == NNRT_CU_EP_GELU_BIAS || ep == NNRT_CU_EP_GELU_AUX_BIAS) x = gelu(x);
      if (ep == NNRT_CU_EP_DRELU || ep == NNRT_CU_EP_DRELU_BGRAD) x = bits[at / 8] >> (at % 8) & 1 ? x : 0.f;
      if (ep == NNRT_CU_EP_DGELU || ep == NNRT_CU_EP_DGELU_BGRAD) x = x * gelu_grad(fx[at]);
      *d = x;
    }
  /* An operand's bias gradient: its sum over k, in k order. */
  for (int64_t j = 0; ep == NNRT_CU_EP_BGRADA && j < n; j++) {
    float s = 0.f;
    for (int64_t q = 0; q < k; q++)
      s += tb ? b[j * ldb + q] : b[q * ldb + j];
    bias[j] = s;
  }
  for (int64_t i = 0; ep == NNRT_CU_EP_BGRADB && i < m; i++) {
    float s = 0.f;
    for (int64_t q = 0; q < k; q++)
      s += ta ? a[q * lda + i] : a[i * lda + q];
    bias[i] = s;
  }
  if (ep == NNRT_CU_EP_DRELU_BGRAD || ep == NNRT_CU_EP_DGELU_BGRAD)
    for (int64_t j = 0; j < n; j++) {
      float s = 0.f;
      for (int64_t i = 0; i < m; i++)
        s += c[i * ldc + j];
      bias[j] = s;
    }
}

void nnrt_cu_memcpy(void *dst, const void *src, int64_t bytes) {
  if (bytes < 0) {
    record("nnrt_cu_memcpy of %lld bytes", (long long)bytes);
    return;
  }
  memmove(dst, src, (size_t)bytes);
}

/* ---- the device table ---- */

static int emu_open(const NnrtModel *m, int ordinal, RtError *e) {
  if (!m->cuda) return rt_fail(e, RT_EXIT_FAIL, "no CUDA device: model %s is not a CUDA binary", m->name);
  if (ordinal != 0)
    return rt_fail(e, RT_EXIT_FAIL, "no CUDA device: device %d requested, the emulation has device 0 only", ordinal);
  emu.model = m;
  const char *late = getenv("NNRT_CUEMU_COPY_LATE");
  streams.late = late && strcmp(late, "0") != 0;
  free(emu.calls);
  emu.calls = NULL;
  for (int32_t i = 0; i < m->cuda->n_kernels; i++)
    if (!resolve(i))
      return rt_fail(e, RT_EXIT_FAIL, "kernel %s is not in the emulated module (nnrt_cuemu_kernels)",
                     m->cuda->kernels[i].name);
  return 0;
}

static void emu_close(void) {
  free(emu.calls);
  emu.calls = NULL;
  emu.model = NULL;
  free(streams.up);
  free(streams.args);
  free(streams.syms);
  memset(&streams, 0, sizeof streams);
}

static void *emu_alloc(size_t bytes, const char *what, RtError *e) {
  void *p = aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
  if (!p) rt_fail(e, RT_EXIT_FAIL, "out of (emulated) device memory for %s (%zu bytes)", what, bytes);
  return p;
}

/* The launched function, run now (its errors wait in emu.error). */
static void run_launched(void) {
  if (!streams.f) return;
  const NnrtFunc *f = streams.f;
  streams.f = NULL;
  f->fn(streams.args, streams.syms, streams.ws);
}

/* The uploads issued so far, copied now (in their order). */
static void run_uploads(void) {
  for (int i = 0; i < streams.n_up; i++)
    memcpy(streams.up[i].dst, streams.up[i].src, streams.up[i].bytes);
  streams.n_up = 0;
}

/* Freeing waits for both streams, as the real runtime's does. */
static void emu_free(void *p) {
  run_launched();
  run_uploads();
  free(p);
}

static int emu_wait(RtError *e) {
  const char *name = streams.f ? streams.f->name : emu.fn_name;
  run_launched();
  if (!emu.error[0]) return 0;
  if (emu.step >= 0) return rt_fail(e, RT_EXIT_FAIL, "%s: %s (step %lld)", name, emu.error, (long long)emu.step);
  return rt_fail(e, RT_EXIT_FAIL, "%s: %s", name, emu.error);
}

static int emu_upload(void *dst, const void *src, size_t bytes, RtError *e) {
  if (!streams.late) return memcpy(dst, src, bytes), 0;
  if (streams.n_up == streams.cap_up) {
    int cap = streams.cap_up ? 2 * streams.cap_up : 16;
    struct Upload *up = realloc(streams.up, (size_t)cap * sizeof *up);
    if (!up) return rt_fail(e, RT_EXIT_FAIL, "out of memory queueing an (emulated) upload");
    streams.up = up, streams.cap_up = cap;
  }
  streams.up[streams.n_up++] = (struct Upload){dst, src, bytes};
  return 0;
}

static int emu_download(void *dst, const void *src, size_t bytes, RtError *e) {
  if (emu_wait(e)) return -1;
  memcpy(dst, src, bytes);
  return 0;
}

static int emu_launch(const NnrtFunc *f, int fn_id, void **args, const int64_t *syms, void *ws, int64_t step,
                      RtError *e) {
  (void)fn_id;
  if (streams.f) return rt_fail(e, RT_EXIT_FAIL, "internal: %s launched while %s runs", f->name, streams.f->name);
  run_uploads(); /* the step waits for every upload so far */
  /* What a launch takes: the argument pointers and syms as they are now. */
  int nargs = model()->n_globals + f->n_inputs + f->n_outputs;
  void **a = realloc(streams.args, (size_t)(nargs > 0 ? nargs : 1) * sizeof *a);
  if (!a) return rt_fail(e, RT_EXIT_FAIL, "out of memory launching %s", f->name);
  streams.args = a;
  memcpy(a, args, (size_t)nargs * sizeof *a);
  int nsyms = model()->n_syms;
  int64_t *sy = realloc(streams.syms, (size_t)(nsyms > 0 ? nsyms : 1) * sizeof *sy);
  if (!sy) return rt_fail(e, RT_EXIT_FAIL, "out of memory launching %s", f->name);
  streams.syms = sy;
  memcpy(sy, syms, (size_t)nsyms * sizeof *sy);
  streams.ws = ws;
  streams.f = f;
  emu.fn_name = f->name;
  emu.error[0] = 0;
  emu.step = step;
  if (streams.late) run_launched();
  return 0;
}

const RtDevice rt_cuda_device = {
    .name = "cuda (emulated)",
    .open = emu_open,
    .close = emu_close,
    .alloc = emu_alloc,
    .free = emu_free,
    .host_alloc = emu_alloc,
    .host_free = emu_free,
    .upload = emu_upload,
    .download = emu_download,
    .launch = emu_launch,
    .wait = emu_wait,
};
