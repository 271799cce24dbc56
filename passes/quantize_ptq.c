/* quantize_ptq.c — post-training int8 quantization (--quantize=int8).
 * Not in this build: the qat branch carries only the entry point, which
 * the int8 branch replaces. */
#include "quantize.h"

bool quantize_ptq(IrModule *m, PassCtx *ctx) {
  (void)m;
  diag_fatal(ctx->diag, "int8 post-training quantization is not in this build");
  return false;
}
