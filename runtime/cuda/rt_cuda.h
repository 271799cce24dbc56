/* rt_cuda.h — the CUDA runtime's internals (rt_cuda.c, rt_cuda_blas.c,
 * rt_cuda_graph.c): the few driver-API and cuBLASLt types, constants and
 * entry points it uses, declared here rather than taken from <cuda.h> and
 * <cublasLt.h>, because the binary loads both libraries with dlopen when it
 * runs and must build where no CUDA toolkit is installed. Every name gets
 * an RT_ prefix so that tests/runtime/test_cuda_api.c can include this
 * header beside the real ones and check each value, each struct size and
 * each symbol (against the toolkit's stub libraries). */
#ifndef RT_CUDA_H
#define RT_CUDA_H
#include "nnrt.h"
#include <stddef.h>
#include <stdint.h>

/* ---- the driver API (libcuda.so.1) ---- */
typedef int RtCUresult; /* CUresult: 0 is CUDA_SUCCESS */
typedef int RtCUdevice;
typedef unsigned long long RtCUdeviceptr;
typedef struct RtCUctx_st *RtCUcontext;
typedef struct RtCUmod_st *RtCUmodule;
typedef struct RtCUfunc_st *RtCUfunction;
typedef struct RtCUstream_st *RtCUstream;
typedef struct RtCUevent_st *RtCUevent;
typedef struct RtCUgraph_st *RtCUgraph;
typedef struct RtCUgraphExec_st *RtCUgraphExec;

enum {
  RT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
  RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
  RT_CU_STREAM_NON_BLOCKING = 0x1,
  RT_CU_EVENT_DISABLE_TIMING = 0x2,
  RT_CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
  RT_CU_JIT_ERROR_LOG_BUFFER = 5,
  RT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
  RT_CU_MEMHOSTALLOC_PORTABLE = 0x01
};

/* X(field, exported symbol, return type, parameters): the exported names are
 * the versions <cuda.h> maps the plain names to in CUDA 12 and 13. */
#define RT_CU_DRIVER_API(X)                                                                                            \
  X(Init, "cuInit", RtCUresult, (unsigned flags))                                                                      \
  X(DriverGetVersion, "cuDriverGetVersion", RtCUresult, (int *version))                                                \
  X(DeviceGetCount, "cuDeviceGetCount", RtCUresult, (int *count))                                                      \
  X(DeviceGet, "cuDeviceGet", RtCUresult, (RtCUdevice * dev, int ordinal))                                             \
  X(DeviceGetName, "cuDeviceGetName", RtCUresult, (char *name, int len, RtCUdevice dev))                               \
  X(DeviceGetAttribute, "cuDeviceGetAttribute", RtCUresult, (int *v, int attr, RtCUdevice dev))                        \
  X(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", RtCUresult, (RtCUcontext * ctx, RtCUdevice dev))               \
  X(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", RtCUresult, (RtCUdevice dev))                             \
  X(CtxSetCurrent, "cuCtxSetCurrent", RtCUresult, (RtCUcontext ctx))                                                   \
  X(ModuleLoadDataEx, "cuModuleLoadDataEx", RtCUresult,                                                                \
    (RtCUmodule * mod, const void *image, unsigned n, int *opts, void **vals))                                         \
  X(ModuleUnload, "cuModuleUnload", RtCUresult, (RtCUmodule mod))                                                      \
  X(ModuleGetFunction, "cuModuleGetFunction", RtCUresult, (RtCUfunction * f, RtCUmodule mod, const char *name))        \
  X(OccupancyMaxActiveBlocksPerMultiprocessor, "cuOccupancyMaxActiveBlocksPerMultiprocessor", RtCUresult,              \
    (int *blocks, RtCUfunction f, int block, size_t dynamic_smem))                                                     \
  X(MemGetInfo, "cuMemGetInfo_v2", RtCUresult, (size_t * free_bytes, size_t * total))                                  \
  X(MemAlloc, "cuMemAlloc_v2", RtCUresult, (RtCUdeviceptr * p, size_t bytes))                                          \
  X(MemFree, "cuMemFree_v2", RtCUresult, (RtCUdeviceptr p))                                                            \
  X(MemHostAlloc, "cuMemHostAlloc", RtCUresult, (void **p, size_t bytes, unsigned flags))                              \
  X(MemFreeHost, "cuMemFreeHost", RtCUresult, (void *p))                                                               \
  X(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", RtCUresult,                                                               \
    (RtCUdeviceptr dst, const void *src, size_t bytes, RtCUstream s))                                                  \
  X(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", RtCUresult, (void *dst, RtCUdeviceptr src, size_t bytes, RtCUstream s))   \
  X(MemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2", RtCUresult,                                                               \
    (RtCUdeviceptr dst, RtCUdeviceptr src, size_t bytes, RtCUstream s))                                                \
  X(StreamCreate, "cuStreamCreate", RtCUresult, (RtCUstream * s, unsigned flags))                                      \
  X(StreamDestroy, "cuStreamDestroy_v2", RtCUresult, (RtCUstream s))                                                   \
  X(StreamSynchronize, "cuStreamSynchronize", RtCUresult, (RtCUstream s))                                              \
  X(StreamWaitEvent, "cuStreamWaitEvent", RtCUresult, (RtCUstream s, RtCUevent ev, unsigned flags))                    \
  X(EventCreate, "cuEventCreate", RtCUresult, (RtCUevent * ev, unsigned flags))                                        \
  X(EventRecord, "cuEventRecord", RtCUresult, (RtCUevent ev, RtCUstream s))                                            \
  X(EventDestroy, "cuEventDestroy_v2", RtCUresult, (RtCUevent ev))                                                     \
  X(LaunchKernel, "cuLaunchKernel", RtCUresult,                                                                        \
    (RtCUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned smem,      \
     RtCUstream s, void **params, void **extra))                                                                       \
  X(StreamBeginCapture, "cuStreamBeginCapture_v2", RtCUresult, (RtCUstream s, int mode))                               \
  X(StreamEndCapture, "cuStreamEndCapture", RtCUresult, (RtCUstream s, RtCUgraph * g))                                 \
  X(GraphInstantiate, "cuGraphInstantiateWithFlags", RtCUresult,                                                       \
    (RtCUgraphExec * exec, RtCUgraph g, unsigned long long flags))                                                     \
  X(GraphLaunch, "cuGraphLaunch", RtCUresult, (RtCUgraphExec exec, RtCUstream s))                                      \
  X(GraphExecDestroy, "cuGraphExecDestroy", RtCUresult, (RtCUgraphExec exec))                                          \
  X(GraphDestroy, "cuGraphDestroy", RtCUresult, (RtCUgraph g))                                                         \
  X(GetErrorName, "cuGetErrorName", RtCUresult, (RtCUresult r, const char **s))                                        \
  X(GetErrorString, "cuGetErrorString", RtCUresult, (RtCUresult r, const char **s))

/* ---- cuBLASLt (libcublasLt.so.13) ---- */
typedef int RtBlasStatus; /* cublasStatus_t: 0 is CUBLAS_STATUS_SUCCESS */
typedef struct RtLtContext *RtLtHandle;
typedef struct RtLtDesc *RtLtMatmulDesc;
typedef struct RtLtLayout *RtLtMatrixLayout;
typedef struct RtLtPref *RtLtMatmulPreference;
typedef struct {
  uint64_t data[8];
} RtLtMatmulAlgo;
typedef struct {
  RtLtMatmulAlgo algo;
  size_t workspaceSize;
  RtBlasStatus state;
  float wavesCount;
  int reserved[4];
} RtLtHeuristicResult;

enum {
  RT_CUBLAS_COMPUTE_32F = 68,
  RT_CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
  RT_CUDA_R_32F = 0,
  RT_CUBLAS_OP_N = 0,
  RT_CUBLAS_OP_T = 1,
  RT_CUBLASLT_MATMUL_DESC_TRANSA = 3,
  RT_CUBLASLT_MATMUL_DESC_TRANSB = 4,
  RT_CUBLASLT_MATMUL_DESC_EPILOGUE = 7,              /* uint32_t: cublasLtEpilogue_t (= NNRT_CU_EP_*) */
  RT_CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8,          /* the bias, or the bias gradient written */
  RT_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER = 11, /* the ReLU mask or GELU's input */
  RT_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD = 12,      /* int64_t: bits for the mask, else elements */
  RT_CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5,
  RT_CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6,
  RT_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,
  RT_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,
  RT_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6,
  RT_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
  RT_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8
};

#define RT_CUBLASLT_API(X)                                                                                             \
  X(Create, "cublasLtCreate", RtBlasStatus, (RtLtHandle * h))                                                          \
  X(Destroy, "cublasLtDestroy", RtBlasStatus, (RtLtHandle h))                                                          \
  X(GetStatusName, "cublasLtGetStatusName", const char *, (RtBlasStatus st))                                           \
  X(MatmulDescCreate, "cublasLtMatmulDescCreate", RtBlasStatus, (RtLtMatmulDesc * d, int compute, int scale_type))     \
  X(MatmulDescDestroy, "cublasLtMatmulDescDestroy", RtBlasStatus, (RtLtMatmulDesc d))                                  \
  X(MatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute", RtBlasStatus,                                            \
    (RtLtMatmulDesc d, int attr, const void *buf, size_t size))                                                        \
  X(MatrixLayoutCreate, "cublasLtMatrixLayoutCreate", RtBlasStatus,                                                    \
    (RtLtMatrixLayout * l, int type, uint64_t rows, uint64_t cols, int64_t ld))                                        \
  X(MatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy", RtBlasStatus, (RtLtMatrixLayout l))                            \
  X(MatrixLayoutSetAttribute, "cublasLtMatrixLayoutSetAttribute", RtBlasStatus,                                        \
    (RtLtMatrixLayout l, int attr, const void *buf, size_t size))                                                      \
  X(MatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate", RtBlasStatus, (RtLtMatmulPreference * p))                \
  X(MatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy", RtBlasStatus, (RtLtMatmulPreference p))                \
  X(MatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute", RtBlasStatus,                                \
    (RtLtMatmulPreference p, int attr, const void *buf, size_t size))                                                  \
  X(MatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic", RtBlasStatus,                                            \
    (RtLtHandle h, RtLtMatmulDesc d, RtLtMatrixLayout a, RtLtMatrixLayout b, RtLtMatrixLayout c, RtLtMatrixLayout dd,  \
     RtLtMatmulPreference p, int requested, RtLtHeuristicResult *results, int *returned))                              \
  X(Matmul, "cublasLtMatmul", RtBlasStatus,                                                                            \
    (RtLtHandle h, RtLtMatmulDesc d, const void *alpha, const void *a, RtLtMatrixLayout al, const void *b,             \
     RtLtMatrixLayout bl, const void *beta, const void *c, RtLtMatrixLayout cl, void *dd, RtLtMatrixLayout dl,         \
     const RtLtMatmulAlgo *algo, void *ws, size_t ws_bytes, RtCUstream s))

#define RT_API_FIELD(field, sym, ret, params) ret(*field) params;
typedef struct RtCuApi {
  RT_CU_DRIVER_API(RT_API_FIELD)
} RtCuApi;
typedef struct RtLtApi {
  RT_CUBLASLT_API(RT_API_FIELD)
} RtLtApi;
#undef RT_API_FIELD

/* A library's entry points by name, for rt_cuda_dlsyms. */
typedef struct RtSym {
  const char *name;
  size_t offset; /* of the function pointer in its table */
} RtSym;
extern const RtSym rt_cu_driver_syms[], rt_cu_lt_syms[];
extern const int rt_cu_n_driver_syms, rt_cu_n_lt_syms;
/* Fills table (an RtCuApi or RtLtApi) from library handle lib; the name of
 * the first missing symbol, or NULL. */
const char *rt_cuda_dlsyms(void *lib, const RtSym *syms, int n, void *table);

/* ---- the runtime's state, one device per process ---- */
typedef struct RtCuda {
  RtCuApi cu;
  RtLtApi lt;
  void *libcuda, *liblt;
  const NnrtModel *m;
  RtCUdevice dev;
  int ordinal, sm, sms; /* --device, compute capability 10*major+minor, multiprocessors */
  char name[128];
  RtCUcontext ctx;
  RtCUmodule mod;
  RtCUfunction *fn; /* per kernel of m->cuda */
  int *max_blocks;  /* per kernel: a full wave of resident blocks */
  RtCUstream compute, copy;
  RtCUevent uploaded; /* recorded on copy after an upload; the next launch makes compute wait for it */
  int upload_pending; /* an upload since the last launch */
  RtLtHandle lt_handle;
  RtCUdeviceptr lt_ws; /* cuBLASLt's workspace */
  size_t lt_ws_bytes;
  /* The function running (rt_cuda_run sets it) and the first error its
   * enqueuing hit: nnrt_cu_* cannot return one, so they record it here,
   * skip all later work, and rt_cuda_run reports it naming the step. */
  const char *fn_name;
  int64_t step;
  int failed;
  char err[768];
  int32_t last_kernel; /* the last kernel enqueued, -1: none */
} RtCuda;
extern RtCuda rt_cu;

/* "CUDA_ERROR_OUT_OF_MEMORY (out of memory)". */
const char *rt_cu_strerror(RtCUresult r, char *buf, size_t size);
/* Records the first error of the running function (printf-style). */
void rt_cu_record(const char *fmt, ...) RT_PRINTF(1, 2);

/* rt_cuda_blas.c: cuBLASLt's handle, workspace and plan cache. */
int rt_cu_blas_open(RtError *e);
void rt_cu_blas_close(void);

/* rt_cuda_graph.c: runs f as a CUDA Graph, captured the second time the
 * same (f, syms, args, ws) runs and replayed from then on (the first run
 * is enqueued eagerly, so it also warms cuBLASLt's plans); 0 or -1 with the
 * error recorded. NNRT_CUDA_GRAPHS=0 in the environment turns graphs off. */
int rt_cu_graph_run(const NnrtFunc *f, int fn_id, void **args, int nargs, const int64_t *syms, void *ws);
void rt_cu_graph_reset(void);

#endif
