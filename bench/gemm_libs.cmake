# bench/gemm_libs.c: nnc's GEMM shapes on OpenBLAS, libxsmm, BLIS and oneDNN
# (built, not run by ctest: `build/bench_gemm_libs`, or bench/gemm_libs.sh),
# and bench/fma_peak.c, the FMA peak both it and bench/run.sh measure
# (`build/bench_fma_peak`; bench/run.py compiles its own with cc).
# OpenBLAS and oneDNN are the runtime's engines (rt_gemm_openblas.c,
# rt_gemm_onednn.c, which loads libdnnl when it runs; libnnrt.a has both); libxsmm and BLIS are
# timed when their Debian packages (libxsmm-dev, libblis-dev) are installed.
find_path(GEMM_LIBXSMM_INCLUDE libxsmm.h)
find_library(GEMM_LIBXSMM NAMES xsmm)
find_path(GEMM_BLIS_INCLUDE blis.h PATH_SUFFIXES blis x86_64-linux-gnu/blis-openmp x86_64-linux-gnu/blis-pthread)
find_library(GEMM_BLIS NAMES blis)
add_executable(bench_fma_peak ${CMAKE_SOURCE_DIR}/bench/fma_peak.c)
target_link_libraries(bench_fma_peak PRIVATE Threads::Threads)
# bench/core_latency.c: the cache-line round trip between two cores (bench/run.sh
# records it; built here so that the build's warnings cover it).
add_executable(bench_core_latency ${CMAKE_SOURCE_DIR}/bench/core_latency.c)
target_link_libraries(bench_core_latency PRIVATE Threads::Threads)
add_executable(bench_gemm_libs ${CMAKE_SOURCE_DIR}/bench/gemm_libs.c ${CMAKE_SOURCE_DIR}/bench/fma_peak.c)
# fma_peak.c as the measurement alone (fma_peak.h), without its main.
target_compile_definitions(bench_gemm_libs PRIVATE FMA_PEAK_NO_MAIN)
# nnrt (OpenBLAS) before BLIS: BLIS also exports cblas_sgemm and sgemm_, and
# the first library loaded supplies them to the OpenBLAS engine and to
# libxsmm's fallback (the bench prints which library that was).
target_link_libraries(bench_gemm_libs PRIVATE nnrt ${OPENBLAS_LIBRARY} ${CMAKE_DL_LIBS} m Threads::Threads)
if(GEMM_LIBXSMM_INCLUDE AND GEMM_LIBXSMM)
  target_compile_definitions(bench_gemm_libs PRIVATE HAVE_LIBXSMM)
  target_include_directories(bench_gemm_libs SYSTEM PRIVATE ${GEMM_LIBXSMM_INCLUDE})
  target_link_libraries(bench_gemm_libs PRIVATE ${GEMM_LIBXSMM} rt)
endif()
if(GEMM_BLIS_INCLUDE AND GEMM_BLIS)
  target_compile_definitions(bench_gemm_libs PRIVATE HAVE_BLIS)
  target_include_directories(bench_gemm_libs SYSTEM PRIVATE ${GEMM_BLIS_INCLUDE})
  target_link_libraries(bench_gemm_libs PRIVATE ${GEMM_BLIS})
endif()
