/* prune.h — the prune pass (prune.c) and its structured half
 * (prune_structured.c).
 *
 * --prune=structured:R removes whole units: round(R n) of the n hidden
 * units of each dense layer and output channels of each conv, those whose
 * incoming weights have the smallest L2 norms, and shrinks every shape
 * that runs along them (docs/optimize.md, "Structured pruning"). */
#ifndef NNC_PRUNE_H
#define NNC_PRUNE_H
#include "passes.h"

/* Structured pruning of a fraction `ratio` (in (0, 1)) of the units of each
 * layer (prune_structured.c), from the trained weights in IrGlobal.data;
 * false after reporting an error. */
bool prune_structured(IrModule *m, double ratio, PassCtx *ctx);

#endif
