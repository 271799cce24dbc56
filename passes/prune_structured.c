/* prune_structured.c — structured pruning (--prune=structured:R): not in
 * this build; the prune pass reports so instead of building a model that
 * silently was not pruned. */
#include "prune.h"

bool prune_structured(IrModule *m, double ratio, PassCtx *ctx) {
  (void)ratio;
  diag_fatal(ctx->diag, "--prune=structured: structured pruning is not in this build (model '%s')", m->name);
  return false;
}
