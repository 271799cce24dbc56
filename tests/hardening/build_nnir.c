/* build_nnir.c — a training binary from IR text, for models the .nn
 * language cannot write (an embedding inside a scan body: the .nn layers
 * build their scans themselves, and the recurrent layers take floats).
 *
 *   build_nnir IN.nnir OUT LIBNNRT
 *
 * What `nnc build` does after its front end: the IR verified, the default
 * pipeline, the CPU backend linking OUT with LIBNNRT. Exit 1 on an error
 * (reported on stderr). */
#include <stdio.h>

#include "codegen/backend.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: build_nnir IN.nnir OUT LIBNNRT\n");
    return 2;
  }
  Arena *a = arena_new();
  Diag d;
  diag_init(&d, stderr);
  size_t len;
  char *text = fe_read_file(a, &d, argv[1], &len);
  IrModule *m = text ? ir_parse(a, &d, argv[1], text, len) : NULL;
  PassCtx pc = {.diag = &d, .dump = stdout, .verify = true};
  CgOptions cg = {.out_path = argv[2], .emit = EMIT_EXE, .opt_level = 2, .cpu_native = true, .runtime_lib = argv[3],
                  .cc = "cc", .diag = &d};
  int ok = m && ir_verify(m, &d) && pass_run_pipeline(m, pass_default_pipeline, pass_default_pipeline_len, &pc) &&
           cg_cpu_backend.compile(m, &cg);
  arena_free(a);
  return ok ? 0 : 1;
}
