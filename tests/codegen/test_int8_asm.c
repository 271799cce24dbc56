/* test_int8_asm.c — `--emit=asm` of a module with qmatmul and qconv2d
 * contains vpdpbusd when this CPU has AVX-512 VNNI, and not with --no-vnni
 * or --cpu=generic. On a CPU without VNNI it says SKIP and exits 77 (ctest's
 * SKIP_RETURN_CODE), after checking that the portable builds compile. */
#define _POSIX_C_SOURCE 200809L
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/backend.h"

static const char *text = "module q\nsym B\n"
                          "func forward(%a: u8[B,784], %w: i8[784,256], %x: u8[B,3,8,8], %f: i8[4,3,3,3]) -> "
                          "(i32[B,256], i32[B,4,8,8]) {\n"
                          "  %y = qmatmul %a, %w {ta=0, tb=0} : i32[B,256]\n"
                          "  %c = qconv2d %x, %f {value=128, stride=1, pad=1} : i32[B,4,8,8]\n"
                          "  return %y, %c\n}\n";

/* Compiles m to assembly as nnc build --emit=asm does; returns how many
 * lines mention vpdpbusd, or -1 when it does not compile. */
static int count_vpdpbusd(const IrModule *m, bool native, bool no_vnni) {
  char path[] = "/tmp/nnc-int8-asm-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  close(fd);
  Diag d;
  diag_init(&d, stderr);
  CgOptions o = {.out_path = path, .emit = EMIT_ASM, .opt_level = 2, .cpu_native = native, .no_vnni = no_vnni, .diag = &d};
  int n = -1;
  if (cg_cpu_backend.compile(m, &o)) {
    FILE *f = fopen(path, "r");
    char line[512];
    n = 0;
    while (f && fgets(line, sizeof line, f))
      n += strstr(line, "vpdpbusd") != NULL;
    if (f) fclose(f);
  }
  unlink(path);
  return n;
}

int main(void) {
  Arena *a = arena_new();
  Diag d;
  diag_init(&d, stderr);
  IrModule *m = ir_parse(a, &d, "int8_asm", text, strlen(text));
  if (!m || !ir_verify(m, &d)) return printf("FAIL: the module does not parse\n"), 1;
  int failed = 0;
  int portable = count_vpdpbusd(m, true, true), generic = count_vpdpbusd(m, false, false);
  if (portable != 0 || generic != 0)
    failed++, printf("FAIL: --no-vnni gives %d vpdpbusd lines, --cpu=generic %d (want 0 and 0)\n", portable, generic);
  LLVMInitializeNativeTarget();
  char *feat = LLVMGetHostCPUFeatures();
  bool vnni = strstr(feat, "+avx512vnni") != NULL;
  LLVMDisposeMessage(feat);
  int ret = failed ? 1 : 0;
  if (!vnni) {
    printf("SKIP: this CPU has no AVX-512 VNNI: vpdpbusd not checked\n");
    ret = failed ? 1 : 77;
  } else {
    int native = count_vpdpbusd(m, true, false);
    if (native <= 0) failed++, ret = 1, printf("FAIL: --emit=asm on this AVX-512 VNNI CPU has no vpdpbusd (%d)\n", native);
    else printf("ok: %d lines with vpdpbusd; none with --no-vnni or --cpu=generic\n", native);
  }
  arena_free(a);
  return ret;
}
