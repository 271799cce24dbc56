/* fuzz_nnir.c — `nnc opt` without the files: the IR text parser, the
 * verifier, the passes and the printers. The input is an .nnir file; the
 * options of its first "RUN:" line's kind are read from anywhere in it:
 * --passes=a,b,.. (default: the default pipeline), --<pass>=VALUE for the
 * passes that take options (--prune=..., --quantize=...), --infer. So the
 * seeds (the golden tests) choose their own passes and the fuzzer mutates
 * the choice. A module that parses must verify-or-fail cleanly, every pass
 * must keep valid IR valid, and the result must print and read back. */
#include "fuzz_ir.h"
#include <string.h>

#define NNIR_MAX_INPUT (64 << 10)
#define NNIR_MAX_PASSES 32

/* The value of the first "--<name>=" in text, up to white space, or NULL. */
static const char *option(Arena *a, const char *text, const char *name) {
  char key[64];
  snprintf(key, sizeof key, "--%s=", name);
  const char *p = strstr(text, key);
  if (!p) return NULL;
  p += strlen(key);
  return arena_strndup(a, p, strcspn(p, " \t\r\n"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > NNIR_MAX_INPUT) return 0;
  Arena *a = arena_new();
  char *text = arena_strndup(a, (const char *)data, size);
  FuzzOut msgs, out;
  fuzz_out_open(&msgs);
  fuzz_out_open(&out);
  Diag d;
  diag_init(&d, msgs.f);
  PassCtx pc = {.diag = &d, .dump = out.f, .infer = strstr(text, "--infer") != NULL};
  const char *names[NNIR_MAX_PASSES];
  int n = 0;
  const char *list = option(a, text, "passes");
  for (const char *p = list; p && *p && n < NNIR_MAX_PASSES;) { /* as nnc opt splits --passes */
    size_t len = strcspn(p, ",");
    if (len) names[n++] = arena_strndup(a, p, len);
    p += len + (p[len] == ',');
  }
  if (!list)
    for (; n < pass_default_pipeline_len; n++)
      names[n] = pass_default_pipeline[n];
  bool usable = true; /* option values nnc opt's command line would refuse never reach the passes */
  for (int i = 0; i < pass_count && usable; i++) {
    const PassInfo *p = &pass_table[i];
    const char *v = p->options ? option(a, text, p->name) : NULL;
    char err[256];
    if (!v) continue;
    if (p->check_option && !p->check_option(v, err, sizeof err)) usable = false;
    else if (pc.noptions < PASS_MAX_OPTIONS) pc.options[pc.noptions++] = (PassOption){p->name, v};
  }
  IrModule *m = usable ? ir_parse(a, &d, "fuzz.nnir", text, size) : NULL;
  if (m && ir_verify(m, &d)) {
    fuzz_ir_roundtrip(a, m);
    if (fuzz_ir_passes(m, names, n, &pc, &msgs)) {
      fuzz_ir_roundtrip(a, m);
      ir_print_dot(out.f, m);
    }
  }
  fuzz_out_close(&msgs);
  fuzz_out_close(&out);
  arena_free(a);
  return 0;
}
