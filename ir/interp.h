/* interp.h — a reference evaluator of IR functions in double precision.
 *
 * It defines what every op means: gradient checks run it on f64 data against
 * central differences, and backend tests compare generated code against it.
 * Slow and simple on purpose. */
#ifndef NNC_INTERP_H
#define NNC_INTERP_H
#include "ir.h"

/* Evaluates f with the symbolic dims set to syms[]. All tensors are dense,
 * row-major, and held as doubles whatever their IR dtype (an i32 label is a
 * double holding an integer).
 *   globals[i]  data of module global i (stores write the new value there,
 *               after every node has run, as the generated code does)
 *   inputs[k]   data of the k-th INPUT node
 *   outputs[r]  caller-allocated buffers receiving f->rets[r]
 * Returns false with a message in err on a run-time error (an onehot label
 * out of range, say). */
bool ir_interp(const IrFunc *f, const int64_t *syms, double *const *globals, double *const *inputs,
               double *const *outputs, char *err, size_t errlen);

#endif
