/* test_cuda_api.c — runtime/cuda/rt_cuda.h declares the driver API and
 * cuBLASLt itself (the binary loads them with dlopen and builds without a
 * toolkit); this checks every declaration against the CUDA toolkit's own
 * headers and libraries, built only where the toolkit is installed:
 *   - each constant equals the header's, each struct has the header's size
 *     and layout (compile time);
 *   - each entry point rt_cuda.c looks up is exported, by exactly that
 *     (versioned) name, by the toolkit's stub libcuda.so and by
 *     libcublasLt.so.13 (run time: ./test_cuda_api STUB_LIBCUDA LIBCUBLASLT). */
#include "rt_cuda.h"
#include <cublasLt.h>
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>

#define SAME(a, b) _Static_assert((long long)(a) == (long long)(b), #a " != " #b)
SAME(RT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
SAME(RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
SAME(RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
SAME(RT_CU_STREAM_NON_BLOCKING, CU_STREAM_NON_BLOCKING);
SAME(RT_CU_EVENT_DISABLE_TIMING, CU_EVENT_DISABLE_TIMING);
SAME(RT_CU_STREAM_CAPTURE_MODE_THREAD_LOCAL, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
SAME(RT_CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER);
SAME(RT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
SAME(RT_CU_MEMHOSTALLOC_PORTABLE, CU_MEMHOSTALLOC_PORTABLE);
SAME(RT_CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F);
SAME(RT_CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_32F_FAST_TF32);
SAME(RT_CUDA_R_32F, CUDA_R_32F);
SAME(RT_CUBLAS_OP_N, CUBLAS_OP_N);
SAME(RT_CUBLAS_OP_T, CUBLAS_OP_T);
SAME(RT_CUBLASLT_MATMUL_DESC_TRANSA, CUBLASLT_MATMUL_DESC_TRANSA);
SAME(RT_CUBLASLT_MATMUL_DESC_TRANSB, CUBLASLT_MATMUL_DESC_TRANSB);
SAME(RT_CUBLASLT_MATMUL_DESC_EPILOGUE, CUBLASLT_MATMUL_DESC_EPILOGUE);
SAME(RT_CUBLASLT_MATMUL_DESC_BIAS_POINTER, CUBLASLT_MATMUL_DESC_BIAS_POINTER);
SAME(RT_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER);
SAME(RT_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD);
SAME(RT_CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT);
SAME(RT_CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET);
SAME(RT_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES);
SAME(RT_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES);
SAME(RT_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES);
SAME(RT_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES);
SAME(RT_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES);
SAME(sizeof(RtCUdeviceptr), sizeof(CUdeviceptr));
SAME(sizeof(RtCUresult), sizeof(CUresult));
SAME(sizeof(RtBlasStatus), sizeof(cublasStatus_t));
SAME(sizeof(RtLtMatmulAlgo), sizeof(cublasLtMatmulAlgo_t));
SAME(sizeof(RtLtHeuristicResult), sizeof(cublasLtMatmulHeuristicResult_t));
SAME(offsetof(RtLtHeuristicResult, workspaceSize), offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize));
SAME(offsetof(RtLtHeuristicResult, state), offsetof(cublasLtMatmulHeuristicResult_t, state));
/* The enums rt_cuda.h passes as int are int-sized in the headers. */
SAME(sizeof(CUdevice_attribute), sizeof(int));
SAME(sizeof(cublasComputeType_t), sizeof(int));
SAME(sizeof(cudaDataType), sizeof(int));
SAME(sizeof(cublasOperation_t), sizeof(int32_t));

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_cuda_api STUB_LIBCUDA LIBCUBLASLT\n");
    return 2;
  }
  int failed = 0;
  RtCuApi cu;
  RtLtApi lt;
  const char *paths[2] = {argv[1], argv[2]};
  const RtSym *syms[2] = {rt_cu_driver_syms, rt_cu_lt_syms};
  int n[2] = {rt_cu_n_driver_syms, rt_cu_n_lt_syms};
  void *tables[2] = {&cu, &lt};
  for (int i = 0; i < 2; i++) {
    void *lib = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      printf("FAIL: %s\n", dlerror());
      failed = 1;
      continue;
    }
    for (int k = 0; k < n[i]; k++)
      if (!dlsym(lib, syms[i][k].name)) printf("FAIL: %s does not export %s\n", paths[i], syms[i][k].name), failed = 1;
    if (!failed && rt_cuda_dlsyms(lib, syms[i], n[i], tables[i])) failed = 1;
    printf("%s: %d entry points found\n", paths[i], n[i]);
  }
  /* The stub's functions are callable: cuInit fails plainly without a driver. */
  if (!failed && cu.Init(0) == CUDA_SUCCESS) printf("note: the stub's cuInit succeeded\n");
  printf(failed ? "test_cuda_api: FAILED\n" : "test_cuda_api: ok\n");
  return failed;
}
