/* test_lt_emu.c — the emulated nnrt_cu_sgemm_ep (runtime/cuda/rt_cuemu.c)
 * against cuBLASLt's epilogues as cublasLt.h defines them, computed here
 * independently (double precision, naive loops), for every NNRT_CU_EP_*
 * and both transposes; the ReLU mask's bit layout byte by byte (bit
 * i*ldaux+j, least significant first, ldaux 256 bits so a row spans two
 * 128-bit words); cuBLASLt's aux row-stride rules reported as errors; and,
 * where the CUDA toolkit's cublasLt.h is at hand, that the ABI's numbers
 * are cuBLASLt's (nnrt_abi.h passes them through unchanged). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"
#include "rt_device.h"

#ifdef NNC_HAVE_CUBLASLT_H
#include <cublasLt.h>
_Static_assert((int)NNRT_CU_EP_BIAS == (int)CUBLASLT_EPILOGUE_BIAS, "BIAS");
_Static_assert((int)NNRT_CU_EP_RELU_BIAS == (int)CUBLASLT_EPILOGUE_RELU_BIAS, "RELU_BIAS");
_Static_assert((int)NNRT_CU_EP_RELU_AUX_BIAS == (int)CUBLASLT_EPILOGUE_RELU_AUX_BIAS, "RELU_AUX_BIAS");
_Static_assert((int)NNRT_CU_EP_GELU_BIAS == (int)CUBLASLT_EPILOGUE_GELU_BIAS, "GELU_BIAS");
_Static_assert((int)NNRT_CU_EP_GELU_AUX_BIAS == (int)CUBLASLT_EPILOGUE_GELU_AUX_BIAS, "GELU_AUX_BIAS");
_Static_assert((int)NNRT_CU_EP_DRELU == (int)CUBLASLT_EPILOGUE_DRELU, "DRELU");
_Static_assert((int)NNRT_CU_EP_DRELU_BGRAD == (int)CUBLASLT_EPILOGUE_DRELU_BGRAD, "DRELU_BGRAD");
_Static_assert((int)NNRT_CU_EP_DGELU == (int)CUBLASLT_EPILOGUE_DGELU, "DGELU");
_Static_assert((int)NNRT_CU_EP_DGELU_BGRAD == (int)CUBLASLT_EPILOGUE_DGELU_BGRAD, "DGELU_BGRAD");
_Static_assert((int)NNRT_CU_EP_BGRADA == (int)CUBLASLT_EPILOGUE_BGRADA, "BGRADA");
_Static_assert((int)NNRT_CU_EP_BGRADB == (int)CUBLASLT_EPILOGUE_BGRADB, "BGRADB");
#endif

/* What rt_cuemu.c expects from a model's kernel object: no kernels here. */
typedef struct NnrtCuEmuKernel {
  const char *name;
  void (*call)(const void *args);
} NnrtCuEmuKernel;
const NnrtCuEmuKernel nnrt_cuemu_kernels[] = {{0, 0}};
void nnrt_cuemu_run(const char *name, void (*call)(const void *), const void *args, unsigned grid, unsigned block) {
  (void)name, (void)call, (void)args, (void)grid, (void)block;
}
static const NnrtCuda no_kernels = {0};
const NnrtModel nnrt_model = {.abi_version = NNRT_ABI_VERSION, .name = "lt", .cuda = &no_kernels};

enum { M = 5, N = 130, K = 7, LDMASK = 256, LDF = 136 };
static int failed;

static void check(int ok, const char *what, int ep, int ta, int tb, long at, double got, double want) {
  if (ok) return;
  if (failed++ < 20)
    printf("FAIL %s (epilogue %d, ta %d, tb %d) at %ld: %.9g, want %.9g\n", what, ep, ta, tb, at, got, want);
}

static int close_to(double got, double want) { return fabs(got - want) <= 1e-5 * fabs(want) + 1e-6; }

static double gelu(double x) { return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
static double gelu_grad(double x) {
  double c = 0.7978845608028654, a = 0.044715, t = tanh(c * (x + a * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * a * x * x);
}
static int bit(const unsigned char *mask, long at) { return mask[at / 8] >> (at % 8) & 1; }

static float A[M * K], B[K * N], bias[N], C[M * N], X[M * LDF];
static unsigned char mask[M * LDMASK / 8];

/* The product row-major, op(A) op(B), in double. */
static double product(int ta, int tb, int i, int j) {
  double s = 0;
  for (int q = 0; q < K; q++)
    s += (double)(ta ? A[q * M + i] : A[i * K + q]) * (tb ? B[j * K + q] : B[q * N + j]);
  return s;
}

static void one(int ep, int ta, int tb) {
  float grad[N];
  int fwd = ep == NNRT_CU_EP_BIAS || ep == NNRT_CU_EP_RELU_BIAS || ep == NNRT_CU_EP_RELU_AUX_BIAS ||
            ep == NNRT_CU_EP_GELU_BIAS || ep == NNRT_CU_EP_GELU_AUX_BIAS;
  int relu_mask = ep == NNRT_CU_EP_RELU_AUX_BIAS || ep == NNRT_CU_EP_DRELU || ep == NNRT_CU_EP_DRELU_BGRAD;
  int bgrad = ep == NNRT_CU_EP_DRELU_BGRAD || ep == NNRT_CU_EP_DGELU_BGRAD;
  int operand_bgrad = ep == NNRT_CU_EP_BGRADA || ep == NNRT_CU_EP_BGRADB;
  void *aux = relu_mask ? (void *)mask : (void *)X;
  int64_t ldaux = relu_mask ? LDMASK : LDF;
  if (ep == NNRT_CU_EP_RELU_AUX_BIAS) memset(mask, 0xa5, sizeof mask); /* every bit must be written */
  unsigned char mask_in[sizeof mask];
  memcpy(mask_in, mask, sizeof mask);
  float x_in[M * LDF];
  memcpy(x_in, X, sizeof X);
  int no_aux = ep == NNRT_CU_EP_BIAS || ep == NNRT_CU_EP_RELU_BIAS || ep == NNRT_CU_EP_GELU_BIAS || operand_bgrad;
  float *vec = fwd ? bias : bgrad || operand_bgrad ? grad : NULL;
  nnrt_cu_sgemm_ep(ta, tb, M, N, K, 1.f, A, ta ? M : K, B, tb ? K : N, 0.f, C, N, ep, vec, no_aux ? NULL : aux, ldaux);
  /* BGRADA: op(B)'s sum over k per column j; BGRADB: op(A)'s per row i. */
  for (int x = 0; operand_bgrad && x < (ep == NNRT_CU_EP_BGRADA ? N : M); x++) {
    double want = 0;
    for (int q = 0; q < K; q++)
      want += ep == NNRT_CU_EP_BGRADA ? (tb ? B[x * K + q] : B[q * N + x]) : (ta ? A[q * M + x] : A[x * K + q]);
    check(close_to(grad[x], want), "operand bias gradient", ep, ta, tb, x, grad[x], want);
  }
  for (int j = 0; j < N; j++) {
    double col = 0;
    for (int i = 0; i < M; i++) {
      double p = product(ta, tb, i, j), z = fwd ? p + bias[j] : p, want = z;
      long at = (long)i * ldaux + j;
      switch (ep) {
      case NNRT_CU_EP_RELU_BIAS:
        want = z > 0 ? z : 0;
        break;
      case NNRT_CU_EP_RELU_AUX_BIAS:
        want = z > 0 ? z : 0;
        check(bit(mask, at) == (z > 0), "ReLU mask bit", ep, ta, tb, at, bit(mask, at), z > 0);
        break;
      case NNRT_CU_EP_GELU_BIAS:
        want = gelu(z);
        break;
      case NNRT_CU_EP_GELU_AUX_BIAS:
        want = gelu(z);
        check(close_to(X[at], z), "GELU aux", ep, ta, tb, at, X[at], z);
        break;
      case NNRT_CU_EP_DRELU:
      case NNRT_CU_EP_DRELU_BGRAD:
        want = bit(mask_in, at) ? p : 0;
        break;
      case NNRT_CU_EP_DGELU:
      case NNRT_CU_EP_DGELU_BGRAD:
        want = p * gelu_grad(x_in[at]);
        break;
      }
      check(close_to(C[i * N + j], want), "D", ep, ta, tb, i * N + j, C[i * N + j], want);
      col += want;
    }
    if (bgrad)
      check(close_to(grad[j], col) || fabs(grad[j] - col) < 1e-5, "bias gradient", ep, ta, tb, j, grad[j], col);
  }
}

/* An emulated step function that calls nnrt_cu_sgemm_ep with a bad ldaux:
 * the step (launch, wait) must fail naming cuBLASLt's rule. */
static int64_t bad_ld;
static int32_t bad_ep;
static void bad_step(void **args, const int64_t *syms, void *ws) {
  (void)args, (void)syms, (void)ws;
  nnrt_cu_sgemm_ep(0, 0, M, N, K, 1.f, A, K, B, N, 0.f, C, N, bad_ep, bias,
                   bad_ep == NNRT_CU_EP_DGELU ? (void *)X : mask, bad_ld);
}

static void bad(int32_t ep, int64_t ld, const char *want) {
  RtError e = {0};
  NnrtFunc f = {.name = "train_step", .fn = bad_step};
  bad_ep = ep, bad_ld = ld;
  int rc = rt_cuda_device.launch(&f, 0, NULL, NULL, NULL, 3, &e);
  if (rc == 0) rc = rt_cuda_device.wait(&e);
  if (rc == 0 || !strstr(e.msg, want)) {
    printf("FAIL epilogue %d with ldaux %lld: rc %d, message '%s' (want '%s')\n", (int)ep, (long long)ld, rc, e.msg,
           want);
    failed++;
  } else {
    printf("ok   epilogue %d with ldaux %lld: %s\n", (int)ep, (long long)ld, e.msg);
  }
}

int main(void) {
  srand(11);
  for (int i = 0; i < M * K; i++)
    A[i] = (float)rand() / RAND_MAX * 2 - 1;
  for (int i = 0; i < K * N; i++)
    B[i] = (float)rand() / RAND_MAX * 2 - 1;
  for (int i = 0; i < N; i++)
    bias[i] = (float)rand() / RAND_MAX - 0.5f;
  for (int i = 0; i < M * LDF; i++)
    X[i] = (float)rand() / RAND_MAX * 6 - 3;
  RtError e = {0};
  if (rt_cuda_device.open(&nnrt_model, 0, &e)) {
    printf("FAIL: the emulated device does not open: %s\n", e.msg);
    return 1;
  }
  static const int eps[] = {NNRT_CU_EP_BIAS,        NNRT_CU_EP_RELU_BIAS,     NNRT_CU_EP_RELU_AUX_BIAS,
                            NNRT_CU_EP_GELU_BIAS,   NNRT_CU_EP_GELU_AUX_BIAS, NNRT_CU_EP_DRELU,
                            NNRT_CU_EP_DRELU_BGRAD, NNRT_CU_EP_DGELU,         NNRT_CU_EP_DGELU_BGRAD,
                            NNRT_CU_EP_BGRADA,      NNRT_CU_EP_BGRADB};
  /* RELU_AUX_BIAS first writes the mask the DRELU forms then read. */
  for (int t = 0; t < 4; t++)
    for (size_t i = 0; i < sizeof eps / sizeof *eps; i++)
      one(eps[i], t & 1, t >> 1);
  printf("%s: every epilogue, 4 transposes, %d x %d x %d\n", failed ? "FAIL" : "ok  ", M, N, K);
  bad(NNRT_CU_EP_DRELU, 200, "multiple of 128");
  bad(NNRT_CU_EP_DRELU, 128, "multiple of 128"); /* less than n = 130 */
  bad(NNRT_CU_EP_DGELU, 132, "multiple of 8");
  rt_cuda_device.close();
  return failed ? 1 : 0;
}
