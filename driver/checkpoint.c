/* checkpoint.c — trained tensors in and out of the IR, for `nnc build
 * --checkpoint F`: F's parameters and layer statistics become the data of
 * the module's globals (IrGlobal.data) before the pass pipeline, and the
 * globals' data after it (a pruned or quantized model) is written back as a
 * checkpoint the binary loads.
 *
 * The reading and writing are the runtime's own (rt_safetensors.c, linked
 * into nnc): one parser for every checkpoint whoever opens it, with the same
 * messages (file, offset, what was expected) for a hostile or mismatched
 * file. The compiler only builds the NnrtTensor table those functions take
 * from the module's globals. */
#include "driver/checkpoint.h"

#include <string.h>

#include "nnrt.h"

/* The runtime's view of the module's globals, and one buffer per global. */
typedef struct View {
  NnrtModel model;
  NnrtTensor *tensors;
  RtGlobals g;
} View;

static void view_of(Arena *a, const IrModule *m, View *v, bool alloc) {
  memset(v, 0, sizeof *v);
  v->tensors = arena_alloc(a, (size_t)(m->nglobals + 1) * sizeof *v->tensors);
  v->g.n = m->nglobals;
  v->g.ptr = arena_alloc(a, (size_t)(m->nglobals + 1) * sizeof *v->g.ptr);
  v->g.numel = arena_alloc(a, (size_t)(m->nglobals + 1) * sizeof *v->g.numel);
  for (int i = 0; i < m->nglobals; i++) {
    const IrGlobal *gl = &m->globals[i];
    NnrtTensor *t = &v->tensors[i];
    memset(t, 0, sizeof *t);
    t->name = gl->name;
    t->kind = (int32_t)gl->kind;
    t->dtype = (int32_t)gl->ty.dt;
    t->rank = gl->ty.sh.rank;
    for (int d = 0; d < t->rank; d++)
      t->dims[d] = gl->ty.sh.d[d];
    v->g.numel[i] = ir_numel_static(&gl->ty.sh);
    size_t bytes = (size_t)v->g.numel[i] * (size_t)ir_dtype_size(gl->ty.dt);
    v->g.ptr[i] = alloc ? arena_alloc(a, bytes ? bytes : 1) : (void *)gl->data;
  }
  v->model.abi_version = NNRT_ABI_VERSION;
  v->model.name = m->name;
  v->model.n_globals = m->nglobals;
  v->model.globals = v->tensors;
}

int ckpt_load(IrModule *m, const char *path, Diag *d) {
  View v;
  view_of(m->arena, m, &v, true);
  RtError e = {0};
  if (rt_st_load(path, &v.model, &v.g, RT_LOAD_PARAMS, NULL, &e)) {
    diag_fatal(d, "%s", e.msg);
    return e.code ? e.code : 2;
  }
  for (int i = 0; i < m->nglobals; i++)
    if (RT_LOAD_PARAMS & (1u << m->globals[i].kind)) m->globals[i].data = v.g.ptr[i];
  return 0;
}

bool ckpt_load_if_present(IrModule *m, const char *path, const int *globals, int n) {
  IrModule sub = *m;
  sub.globals = arena_alloc(m->arena, (size_t)(n + 1) * sizeof *sub.globals);
  sub.nglobals = n;
  for (int i = 0; i < n; i++) sub.globals[i] = m->globals[globals[i]];
  View v;
  view_of(m->arena, &sub, &v, true);
  RtError e = {0};
  if (rt_st_load(path, &v.model, &v.g, RT_LOAD_PARAMS, NULL, &e)) return false;
  for (int i = 0; i < n; i++) m->globals[globals[i]].data = v.g.ptr[i];
  return true;
}

bool ckpt_has_data(const IrModule *m) {
  for (int i = 0; i < m->nglobals; i++)
    if (m->globals[i].data) return true;
  return false;
}

bool ckpt_write(const IrModule *m, const char *path, Diag *d) {
  Arena *a = arena_new();
  /* Only the globals that have data: a model's weights, not the optimizer
   * state a training binary makes from zeros. */
  IrModule sub = *m;
  sub.globals = arena_alloc(a, (size_t)(m->nglobals + 1) * sizeof *sub.globals);
  sub.nglobals = 0;
  for (int i = 0; i < m->nglobals; i++)
    if (m->globals[i].data) sub.globals[sub.nglobals++] = m->globals[i];
  View v;
  view_of(a, &sub, &v, false);
  RtMeta meta = {0};
  rt_meta_set(&meta, "format", "nnc");
  rt_meta_set(&meta, "model", m->name);
  RtError e = {0};
  bool ok = rt_st_save(path, &v.model, &v.g, &meta, &e) == 0;
  if (!ok) diag_fatal(d, "%s", e.msg);
  arena_free(a);
  return ok;
}
