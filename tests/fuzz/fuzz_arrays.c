/* fuzz_arrays.c — the array loaders of the data sets: .npy
 * (runtime/rt_npy.c) and IDX, gzip-compressed or plain (rt_data.c). The
 * input is one file given to both loaders (their magic numbers differ, so
 * each input is meant for one and checks the other's refusal), then what
 * loaded is converted as the trainer converts features and labels. A
 * failure must come with a message and an exit code. */
#include "fuzz.h"
#include "nnrt.h"

static void convert(RtArray *a) {
  RtError e = {0};
  char where[RT_PATH_MAX + 64];
  rt_array_where(a, a->numel - 1, where, sizeof where);
  rt_array_where(a, -1, where, sizeof where);
  if (rt_array_convert(a, NNRT_I32, &e)) fuzz_check_error(&e);
  if (rt_array_convert(a, NNRT_F32, &e)) fuzz_check_error(&e);
  rt_array_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_write("in.bin", data, size);
  RtArray a;
  RtError e = {0};
  if (rt_npy_load(path, &a, &e) == 0) convert(&a);
  else fuzz_check_error(&e);
  for (int scale = 0; scale < 2; scale++) {
    e = (RtError){0};
    if (rt_idx_load(path, scale, &a, &e) == 0) convert(&a);
    else fuzz_check_error(&e);
  }
  return 0;
}
