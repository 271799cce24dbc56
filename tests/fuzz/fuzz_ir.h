/* fuzz_ir.h — checks shared by the .nn and IR text harnesses (fuzz_ir.c). */
#ifndef NNC_FUZZ_IR_H
#define NNC_FUZZ_IR_H
#include "fuzz.h"
#include "passes/passes.h"

/* Prints m, parses and verifies the text, prints it again: fuzz_bug unless
 * both texts are equal. */
void fuzz_ir_roundtrip(Arena *a, const IrModule *m);
/* pass_run_pipeline with the verifier after every pass; fuzz_bug if the
 * messages (pc->diag writes to msgs) report a compiler bug. Its result. */
bool fuzz_ir_passes(IrModule *m, const char *const *names, int n, PassCtx *pc, FuzzOut *msgs);

#endif
