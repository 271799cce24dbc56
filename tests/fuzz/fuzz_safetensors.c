/* fuzz_safetensors.c — the checkpoint reader (runtime/rt_safetensors.c and
 * the JSON parser under it, rt_json.c): the input is a file given to
 * rt_st_load for a small model with a parameter of each dtype, optimizer
 * state, a layer statistic and a pruning mask; loaded once as eval loads
 * (parameters, statistics, masks, metadata) and once as --resume does (and
 * optimizer state). A load that fails must leave the globals as they were. */
#include "fuzz.h"
#include "nnrt.h"
#include <stdlib.h>
#include <string.h>

static const NnrtTensor globals[] = {
    {"dense.w", NNRT_PARAM, NNRT_F32, 2, NNRT_INIT_ZEROS, {3, 4}, 0, 0},
    {"embed.ids", NNRT_PARAM, NNRT_I32, 1, NNRT_INIT_ZEROS, {5}, 0, 0},
    {"dense.w.m", NNRT_STATE, NNRT_F32, 2, NNRT_INIT_ZEROS, {3, 4}, 0, 0},
    {"opt.step", NNRT_STATE, NNRT_F32, 0, NNRT_INIT_ZEROS, {0}, 0, 0},
    {"bn.mean", NNRT_STATS, NNRT_F32, 1, NNRT_INIT_ZEROS, {2}, 0, 0},
    {"dense.w.mask", NNRT_MASK, NNRT_F32, 2, NNRT_INIT_ONES, {3, 4}, 0, 0},
};
static const NnrtModel model = {
    .abi_version = NNRT_ABI_VERSION, .name = "fuzz", .n_globals = 6, .globals = globals};

static void load(const char *path, RtGlobals *g, unsigned kinds, RtMeta *meta) {
  memset(g->base, 0x5a, g->bytes);
  RtError e = {0};
  if (rt_st_load(path, &model, g, kinds, meta, &e) == 0) return;
  for (size_t i = 0; i < g->bytes; i++)
    if (((unsigned char *)g->base)[i] != 0x5a) fuzz_bug("a failed rt_st_load changed the globals", e.msg);
  fuzz_check_error(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_write("in.safetensors", data, size);
  RtGlobals g;
  RtError e = {0};
  if (rt_globals_alloc(&g, &model, &e)) fuzz_bug("rt_globals_alloc", e.msg);
  RtMeta meta = {0};
  load(path, &g, RT_LOAD_PARAMS, &meta);
  load(path, &g, RT_LOAD_PARAMS | RT_LOAD_STATE, NULL);
  rt_globals_free(&g);
  return 0;
}
