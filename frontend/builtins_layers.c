/* builtins_layers.c — layers for images and sequences beyond builtins.c's:
 * the global poolings (this file's table, searched after builtins.c's).
 *
 *   global_avgpool(x), global_maxpool(x)
 *       [B, C, H, W] (NCHW) -> [B, C], the mean / max over H and W;
 *       [B, T, C] (a sequence, channels last) -> [B, C], over T;
 *       as Keras's GlobalAveragePooling1D/2D (channels_first for 2-d). */
#include "lower.h"

/* The axes a global pooling reduces: H, W of NCHW, or T of [B, T, C]. */
static int global_pool(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  const Type *t = fe_type(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  if (t->dt != DT_F32 || (t->sh.rank != 3 && t->sh.rank != 4)) {
    diag_error(L->d, a[0].loc, "%s expects images f32[batch, channels, height, width] or a sequence "
               "f32[batch, steps, channels], got %s", b->name, fe_type_str(L, t, buf));
    return FE_ERR;
  }
  Attrs at = t->sh.rank == 4 ? (Attrs){.naxes = 2, .axes = {2, 3}} : (Attrs){.naxes = 1, .axes = {1}};
  return fe_emit(L, b->op, &a[0].v, 1, &at, NULL, call->loc);
}

#define X {"x", P_TENSOR, FE_REQUIRED, NULL}

const Builtin fe_layer_builtins[] = {
    /* no parameters, so plain layers for the summary */
    {"global_avgpool", OP_MEAN, B_LAYER, 0, {X}, global_pool},
    {"global_maxpool", OP_MAX, B_LAYER, 0, {X}, global_pool},
};
const int fe_layer_nbuiltins = (int)(sizeof fe_layer_builtins / sizeof *fe_layer_builtins);
