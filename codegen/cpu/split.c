/* split.c — optimisation and machine code for one module on several
 * threads.
 *
 * Most of `nnc build`'s time is LLVM's (--time-passes: optimisation and
 * machine code, each a second or more for char_gpt against milliseconds for
 * nnc's own passes), and LLVM works on one module on one thread. So the
 * module is cut into parts that compile side by side, each in an LLVM
 * context of its own (a context is not shared between threads), and the
 * parts' objects are linked together.
 *
 * The units of a cut are the module's functions, each defined in one part:
 * the step functions the runtime calls, the kernels' parallel wrappers
 * (cg_make_body's) that a step hands to nnrt_parallel_for, and the kernels
 * themselves. Units become external with hidden visibility, so a part that
 * calls another part's unit links to it and nothing outside the binary sees
 * them. Parts are filled largest unit first into the least loaded part (by
 * instruction count), and the first part keeps the module's data
 * definitions (nnrt_model).
 *
 * A serial kernel used to go with the step that calls it, to be inlined
 * there: char_gpt's train_step then was one unit of 161 KB of machine code
 * that one thread compiled while the other had finished, and `nnc build`
 * took 2.3 s (1.8 of them in LLVM) on 2 cores. With every kernel a unit
 * the parts balance: 1.3 s (0.95 in LLVM). A kernel in another part is a
 * call instead of inlined code, nanoseconds against its microseconds: the
 * MLP's step (the smallest, 21 kernels) measured the same, 0.242 against
 * 0.244 ms (`bench`, alternating, median of 5).
 *
 * Every part gets the same optimisation pipeline and the same target
 * machine settings as the one-module path, so the code of each function is
 * what it would be there, but for inlining across parts. */
#define _POSIX_C_SOURCE 200809L
#include <llvm-c/BitReader.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Core.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg.h"

#define SPLIT_MAX_PARTS 8

/* A function's own instruction count. */
static int64_t fn_size(LLVMValueRef fn) {
  int64_t n = 0;
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef in = LLVMGetFirstInstruction(bb); in; in = LLVMGetNextInstruction(in)) n++;
  return n;
}


/* Turns a defined function into a declaration: every instruction's uses
 * become poison, then the instructions and blocks go (the C API has no
 * Function::deleteBody). */
static void delete_body(LLVMValueRef fn) {
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef in = LLVMGetFirstInstruction(bb); in; in = LLVMGetNextInstruction(in))
      if (LLVMGetTypeKind(LLVMTypeOf(in)) != LLVMVoidTypeKind) LLVMReplaceAllUsesWith(in, LLVMGetPoison(LLVMTypeOf(in)));
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef in = LLVMGetFirstInstruction(bb), next; in; in = next) {
      next = LLVMGetNextInstruction(in);
      LLVMInstructionEraseFromParent(in);
    }
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn), next; bb; bb = next) {
    next = LLVMGetNextBasicBlock(bb);
    LLVMDeleteBasicBlock(bb);
  }
  LLVMSetLinkage(fn, LLVMExternalLinkage);
}

typedef struct Part {
  const CgOptions *o;
  LLVMMemoryBufferRef bitcode; /* the whole module, shared read-only */
  const char **keep;           /* the units this part defines */
  int nkeep;
  bool data;  /* defines the module's data (the first part) */
  char *obj;  /* its object file */
  char err[512];
  bool ok;
} Part;

static bool kept(const Part *p, const char *name) {
  for (int i = 0; i < p->nkeep; i++)
    if (!strcmp(p->keep[i], name)) return true;
  return false;
}

static void *compile_part(void *arg) {
  Part *p = arg;
  LLVMContextRef llc = cg_context(p->o->verbose);
  LLVMModuleRef mod = NULL;
  char *tmerr = NULL, *emerr = NULL;
  LLVMTargetMachineRef tm = NULL;
  if (LLVMParseBitcodeInContext2(llc, p->bitcode, &mod)) {
    snprintf(p->err, sizeof p->err, "cannot read back the module's bitcode");
    goto done;
  }
  for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn)) {
    size_t len;
    if (!LLVMIsDeclaration(fn) && LLVMGetLinkage(fn) == LLVMExternalLinkage && !kept(p, LLVMGetValueName2(fn, &len)))
      delete_body(fn);
  }
  if (!p->data)
    for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = LLVMGetNextGlobal(g))
      if (!LLVMIsDeclaration(g) && LLVMGetLinkage(g) == LLVMExternalLinkage) LLVMSetInitializer(g, NULL);
  tm = cg_target_machine(p->o, &tmerr);
  if (!tm) {
    snprintf(p->err, sizeof p->err, "%s", tmerr ? tmerr : "no target");
    goto done;
  }
  if (!cg_optimize(mod, tm, p->o->opt_level, NULL)) {
    snprintf(p->err, sizeof p->err, "LLVM optimisation failed");
    goto done;
  }
  if (LLVMTargetMachineEmitToFile(tm, mod, p->obj, LLVMObjectFile, &emerr)) {
    snprintf(p->err, sizeof p->err, "cannot write %s: %s", p->obj, emerr ? emerr : "LLVM failed");
    goto done;
  }
  p->ok = true;
done:
  if (tmerr) LLVMDisposeMessage(tmerr);
  if (emerr) LLVMDisposeMessage(emerr);
  if (tm) LLVMDisposeTargetMachine(tm);
  if (mod) LLVMDisposeModule(mod);
  LLVMContextDispose(llc);
  return NULL;
}

int cg_split_parts(void) {
  const char *env = getenv("NNC_BUILD_THREADS");
  long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > SPLIT_MAX_PARTS ? SPLIT_MAX_PARTS : (int)n;
}

bool cg_split_compile(LLVMModuleRef mod, const CgOptions *o, int nparts, char *(*temp)(void), char **objs,
                      int *nobjs) {
  *nobjs = 0;
  int nfns = 0;
  for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn)) nfns++;
  LLVMValueRef *fns = calloc((size_t)nfns + 1, sizeof *fns);
  bool *unit = calloc((size_t)nfns + 1, 1), *seen = calloc((size_t)nfns + 1, 1);
  int64_t *cost = calloc((size_t)nfns + 1, sizeof *cost);
  int *part_of = calloc((size_t)nfns + 1, sizeof *part_of);
  Part parts[SPLIT_MAX_PARTS] = {0};
  pthread_t th[SPLIT_MAX_PARTS];
  bool started[SPLIT_MAX_PARTS] = {0}, ok = fns && unit && seen && cost && part_of;
  if (!ok) {
    cg_error(o->diag, "out of memory splitting the module");
    goto out;
  }
  nfns = 0;
  for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn)) fns[nfns++] = fn;
  int nunits = 0;
  for (int i = 0; i < nfns; i++)
    if ((unit[i] = !LLVMIsDeclaration(fns[i]))) cost[i] = fn_size(fns[i]), nunits++;
  if (nparts > nunits) nparts = nunits;
  /* Largest unit first into the least loaded part; seen[] marks the
   * placed units from here on. */
  int64_t load[SPLIT_MAX_PARTS] = {0};
  memset(seen, 0, (size_t)nfns);
  for (int placed = 0; placed < nunits; placed++) {
    int best = -1;
    for (int i = 0; i < nfns; i++)
      if (unit[i] && !seen[i] && (best < 0 || cost[i] > cost[best])) best = i;
    seen[best] = true;
    int p = 0;
    for (int q = 1; q < nparts; q++)
      if (load[q] < load[p]) p = q;
    load[p] += cost[best];
    part_of[best] = p;
  }
  /* Units visible to the other parts' objects, not outside the binary. */
  for (int i = 0; i < nfns; i++)
    if (unit[i] && LLVMGetLinkage(fns[i]) != LLVMExternalLinkage) {
      LLVMSetLinkage(fns[i], LLVMExternalLinkage);
      LLVMSetVisibility(fns[i], LLVMHiddenVisibility);
    }
  LLVMMemoryBufferRef bc = LLVMWriteBitcodeToMemoryBuffer(mod);
  for (int p = 0; p < nparts && ok; p++) {
    Part *pt = &parts[p];
    *pt = (Part){.o = o, .bitcode = bc, .data = p == 0, .obj = temp()};
    pt->keep = calloc((size_t)nunits, sizeof *pt->keep);
    if (!pt->obj || !pt->keep) {
      cg_error(o->diag, "cannot create a temporary object file");
      ok = false;
      break;
    }
    objs[(*nobjs)++] = pt->obj;
    for (int i = 0; i < nfns; i++)
      if (unit[i] && part_of[i] == p) {
        size_t len;
        pt->keep[pt->nkeep++] = LLVMGetValueName2(fns[i], &len);
      }
  }
  /* LLVM's process-wide options are set before any thread reads them. */
  if (ok) cg_optimize_init();
  for (int p = 0; p < nparts && ok; p++) started[p] = pthread_create(&th[p], NULL, compile_part, &parts[p]) == 0;
  for (int p = 0; p < nparts && ok; p++) {
    if (started[p]) pthread_join(th[p], NULL);
    else compile_part(&parts[p]); /* no thread to be had: this one does it */
  }
  for (int p = 0; p < nparts && ok; p++)
    if (!parts[p].ok) {
      cg_error(o->diag, "%s", parts[p].err);
      ok = false;
    }
  LLVMDisposeMemoryBuffer(bc);
out:
  for (int p = 0; p < SPLIT_MAX_PARTS; p++) free(parts[p].keep);
  free(fns), free(unit), free(seen), free(cost), free(part_of);
  return ok;
}
