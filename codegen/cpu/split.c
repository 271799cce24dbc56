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
 * The units of a cut are the functions other code reaches by address or by
 * name: the step functions the runtime calls, and the kernels' parallel
 * wrappers (cg_make_body's) that a step hands to nnrt_parallel_for. Each
 * unit goes whole to one part together with the internal functions it calls
 * directly (a serial kernel is inlined into its caller, as in one module; a
 * kernel called from units of two parts is compiled in both). Units become
 * external with hidden visibility, so a part that calls another part's unit
 * links to it and nothing outside the binary sees them. Parts are filled
 * largest unit first into the least loaded part (by instruction count), and
 * the first part keeps the module's data definitions (nnrt_model).
 *
 * Every part gets the same optimisation pipeline and the same target
 * machine settings as the one-module path, so the code of each function is
 * what it would be there, but for inlining across units, which never
 * happens anyway: a unit is called through a pointer or from the runtime. */
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

static bool is_unit(LLVMValueRef fn, bool address_taken) {
  if (LLVMIsDeclaration(fn)) return false;
  LLVMLinkage l = LLVMGetLinkage(fn);
  return l == LLVMExternalLinkage || address_taken;
}

/* Marks in taken[] the functions whose address is an operand of anything
 * but the callee slot of a call (a kernel wrapper handed to the pool). */
static void address_taken(LLVMValueRef *fns, int nfns, bool *taken) {
  for (int i = 0; i < nfns; i++)
    for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fns[i]); bb; bb = LLVMGetNextBasicBlock(bb))
      for (LLVMValueRef in = LLVMGetFirstInstruction(bb); in; in = LLVMGetNextInstruction(in)) {
        int nops = LLVMGetNumOperands(in);
        bool call = LLVMIsACallInst(in) != NULL;
        /* A call's callee is its last operand. */
        for (int k = 0; k < nops - (call ? 1 : 0); k++) {
          LLVMValueRef v = LLVMGetOperand(in, (unsigned)k);
          if (!v || !LLVMIsAFunction(v)) continue;
          for (int j = 0; j < nfns; j++)
            if (fns[j] == v) taken[j] = true;
        }
      }
}

/* Adds to *cost the size of fns[u] and of the internal functions it calls
 * directly, transitively (seen[] per unit). */
static void unit_cost(LLVMValueRef *fns, int nfns, const bool *unit, int u, bool *seen, int64_t *cost) {
  seen[u] = true;
  *cost += fn_size(fns[u]);
  for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fns[u]); bb; bb = LLVMGetNextBasicBlock(bb))
    for (LLVMValueRef in = LLVMGetFirstInstruction(bb); in; in = LLVMGetNextInstruction(in)) {
      if (!LLVMIsACallInst(in)) continue;
      LLVMValueRef callee = LLVMGetCalledValue(in);
      for (int j = 0; j < nfns; j++)
        if (fns[j] == callee && !unit[j] && !seen[j]) unit_cost(fns, nfns, unit, j, seen, cost);
    }
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
  bool *taken = calloc((size_t)nfns + 1, 1), *unit = calloc((size_t)nfns + 1, 1), *seen = calloc((size_t)nfns + 1, 1);
  int64_t *cost = calloc((size_t)nfns + 1, sizeof *cost);
  int *part_of = calloc((size_t)nfns + 1, sizeof *part_of);
  Part parts[SPLIT_MAX_PARTS] = {0};
  pthread_t th[SPLIT_MAX_PARTS];
  bool started[SPLIT_MAX_PARTS] = {0}, ok = fns && taken && unit && seen && cost && part_of;
  if (!ok) {
    cg_error(o->diag, "out of memory splitting the module");
    goto out;
  }
  nfns = 0;
  for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn)) fns[nfns++] = fn;
  address_taken(fns, nfns, taken);
  int nunits = 0;
  for (int i = 0; i < nfns; i++)
    if ((unit[i] = is_unit(fns[i], taken[i]))) nunits++;
  if (nparts > nunits) nparts = nunits;
  for (int i = 0; i < nfns; i++)
    if (unit[i]) {
      memset(seen, 0, (size_t)nfns);
      unit_cost(fns, nfns, unit, i, seen, &cost[i]);
    }
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
  free(fns), free(taken), free(unit), free(seen), free(cost), free(part_of);
  return ok;
}
