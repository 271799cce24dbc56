/* checkpoint.h — trained tensors in and out of the IR (checkpoint.c). */
#ifndef NNC_DRIVER_CHECKPOINT_H
#define NNC_DRIVER_CHECKPOINT_H
#include "ir/ir.h"

/* Sets the data of every parameter and statistics global from the
 * safetensors file at path (by name, checking dtype and shape; the whole
 * header is validated first). Returns 0, or the exit code after reporting
 * (2: the file is bad or belongs to another model; 1: I/O). */
int ckpt_load(IrModule *m, const char *path, Diag *d);

/* Sets the data of globals[0..n) of m from path when it holds every one of
 * them (by name, dtype and shape); false, changing nothing and reporting
 * nothing, when it does not. For optional tensors (a QAT checkpoint's
 * activation observers) of a file ckpt_load has already read. */
bool ckpt_load_if_present(IrModule *m, const char *path, const int *globals, int n);

/* Whether any global has data (a model built from a checkpoint). */
bool ckpt_has_data(const IrModule *m);

/* Writes every global that has data to path, atomically. False after
 * reporting. */
bool ckpt_write(const IrModule *m, const char *path, Diag *d);

#endif
