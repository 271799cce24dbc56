/* prune.h — the prune pass (prune.c) and its structured half
 * (prune_structured.c).
 *
 * --prune=unstructured:S[,start=N][,end=N][,every=N][,params=GLOB|...]
 * trains sparse weights: each pruned parameter @P gets a mask global
 * @P.mask (kind mask, ones) and every read of @P becomes P * P.mask, so the
 * gradient is zero where the mask is; the runtime recomputes the masks by
 * magnitude on the gradual schedule of Zhu & Gupta (2017) and zeroes the
 * pruned weights and their optimizer state (runtime/rt_prune.c). The spec's
 * canonical text goes to IrTrain.prune for the runtime.
 * --prune=structured:R removes whole units (prune_structured). The spec's
 * grammar is runtime/nnrt_prune.h's. */
#ifndef NNC_PRUNE_H
#define NNC_PRUNE_H
#include "passes.h"

bool pass_prune(IrModule *m, PassCtx *ctx);
/* PassInfo.check_option of prune: the spec parses (nnrt_prune.h). */
bool prune_check_option(const char *value, char *err, size_t errsize);
/* Structured pruning of a fraction `ratio` of the units of each layer
 * (prune_structured.c); false after reporting an error. */
bool prune_structured(IrModule *m, double ratio, PassCtx *ctx);

#endif
