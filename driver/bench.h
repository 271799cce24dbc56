/* bench.h — `nnc bench` (bench.c): the command parses its own options. */
#ifndef NNC_DRIVER_BENCH_H
#define NNC_DRIVER_BENCH_H

extern const char nnc_bench_usage[];
/* argv: the arguments after "bench"; returns the exit code. */
int nnc_bench(int argc, char **argv);

#endif
