/* fuzz_nn.c — the .nn front end and the default passes, as `nnc build` runs
 * them up to code generation: fe_compile on the input as a file's text,
 * then (when it compiles) the summary table, the IR round trip, and
 * pass_run_pipeline over pass_default_pipeline with the verifier after each
 * pass. Crashes, sanitizer reports, IR that does not read back and passes
 * that break valid IR are bugs; error messages are not. */
#include "frontend/frontend.h"
#include "fuzz_ir.h"
#include <string.h>

/* Bigger sources only slow the fuzzer down; the grammar fits in less. */
#define NN_MAX_INPUT (64 << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > NN_MAX_INPUT) return 0;
  Arena *a = arena_new();
  char *text = arena_strndup(a, (const char *)data, size); /* NUL-terminated copy */
  FuzzOut msgs, out;
  fuzz_out_open(&msgs);
  fuzz_out_open(&out);
  Diag d;
  diag_init(&d, msgs.f);
  FeModel *fm = fe_compile(a, &d, "fuzz.nn", text, size);
  if (fm) {
    fe_print_summary(out.f, fm);
    fuzz_ir_roundtrip(a, fm->mod);
    PassCtx pc = {.diag = &d, .dump = out.f};
    if (fuzz_ir_passes(fm->mod, pass_default_pipeline, pass_default_pipeline_len, &pc, &msgs))
      fuzz_ir_roundtrip(a, fm->mod);
  }
  fuzz_out_close(&msgs);
  fuzz_out_close(&out);
  arena_free(a);
  return 0;
}
