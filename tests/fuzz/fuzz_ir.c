/* fuzz_ir.c — the promises the .nn and IR harnesses check besides "no
 * crash" (fuzz_ir.h): valid IR stays valid through the default passes, and
 * what the printer writes reads back to the same text. */
#include "fuzz_ir.h"
#include <string.h>

void fuzz_ir_roundtrip(Arena *a, const IrModule *m) {
  /* A global's data past IR_DATA_INLINE elements prints as a size only,
   * which by design does not read back (docs/ir.md). */
  for (int i = 0; i < m->nglobals; i++)
    if (m->globals[i].data && ir_numel_static(&m->globals[i].ty.sh) > IR_DATA_INLINE) return;
  FuzzOut first, again, msgs;
  fuzz_out_open(&first);
  fuzz_out_open(&again);
  fuzz_out_open(&msgs);
  ir_print_module(first.f, m);
  const char *text = fuzz_out_text(&first);
  Diag d;
  diag_init(&d, msgs.f);
  IrModule *back = ir_parse(a, &d, "printed.nnir", text, strlen(text));
  const char *bug = NULL;
  if (!back) bug = "the printed IR does not parse";
  else if (!ir_verify(back, &d)) bug = "the printed IR does not verify";
  else {
    ir_print_module(again.f, back);
    if (strcmp(text, fuzz_out_text(&again))) bug = "print(parse(print(m))) != print(m)";
  }
  if (bug) {
    fprintf(stderr, "%s\n--- printed ---\n%s--- messages ---\n%s", bug, text, fuzz_out_text(&msgs));
    fuzz_bug(bug, "");
  }
  fuzz_out_close(&first);
  fuzz_out_close(&again);
  fuzz_out_close(&msgs);

}

bool fuzz_ir_passes(IrModule *m, const char *const *names, int n, PassCtx *pc, FuzzOut *msgs) {
  pc->verify = true; /* a pass that breaks valid IR is a compiler bug */
  bool ok = pass_run_pipeline(m, names, n, pc);
  const char *text = fuzz_out_text(msgs);
  if (strstr(text, "(a compiler bug)")) fuzz_bug("a pass reported a compiler bug", text);
  return ok;
}
