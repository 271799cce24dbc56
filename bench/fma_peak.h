/* fma_peak.h — the machine's measured f32 FMA peak (fma_peak.c), for the
 * programs that hold GEMM rates against it: fma_peak's own main (bench/run.py)
 * and build/bench_gemm_libs (bench/gemm_libs.c). */
#ifndef FMA_PEAK_H
#define FMA_PEAK_H

/* The vector width of the chains: AVX2 (8 floats, OpenBLAS's Haswell
 * kernels' ISA) or AVX-512 (16 floats, what `nnc build --cpu=native`
 * generates on a CPU that has it). */
typedef enum FmaIsa { FMA_AVX2, FMA_AVX512 } FmaIsa;

/* Whether this CPU runs isa's chains (AVX2 needs FMA too). */
int fma_peak_supported(FmaIsa isa);
/* "avx2", "avx512": the names fma_peak prints. */
const char *fma_peak_isa_name(FmaIsa isa);
/* GFLOP/s of `threads` threads (1..64) each running the chains of isa from
 * a common start: the best of a few runs of about 0.1 s. isa must be
 * supported; the process's other threads should be idle meanwhile. */
double fma_peak_gflops(FmaIsa isa, int threads);

#endif
