/* fuzz.h — what the libFuzzer harnesses of tests/fuzz share (fuzz_common.c).
 *
 * Each harness defines LLVMFuzzerTestOneInput. Built with clang's
 * -fsanitize=fuzzer (cmake -DNNC_FUZZ=ON) libFuzzer drives it; built with
 * replay.c instead (every build) it replays files and directories given on
 * the command line, so ctest runs the seeds and every crash ever found
 * (tests/fuzz/regress/<harness>/) with any compiler. A harness must never
 * write outside its temporary directory, leak, or exit: bad input is an
 * error message and a return, and anything else is a bug the fuzzer finds.
 * A harness calls fuzz_bug (abort) where the code under test broke a
 * promise without crashing (IR that does not read back, say). */
#ifndef NNC_FUZZ_H
#define NNC_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The process's private temporary directory (mkdtemp under $TMPDIR or
 * /tmp), created on first use and removed with its files at exit. */
const char *fuzz_tmpdir(void);
/* "<tmpdir>/<name>" (a static buffer per call slot: up to 4 live at once). */
const char *fuzz_path(const char *name);
/* Writes data to fuzz_path(name); the path. Aborts if it cannot (the
 * machine's problem, not the input's). */
const char *fuzz_write(const char *name, const void *data, size_t size);
/* Removes every file in the temporary directory, so that no input sees
 * what an earlier one left (a vocabulary file written by the loader...). */
void fuzz_clean(void);
/* A stream into memory for messages and printed IR, and its contents. */
typedef struct FuzzOut {
  FILE *f;
  char *buf;
  size_t len;
} FuzzOut;
void fuzz_out_open(FuzzOut *o);
/* Flushes and returns the text written so far (NUL-terminated). */
const char *fuzz_out_text(FuzzOut *o);
void fuzz_out_close(FuzzOut *o);
/* A failed loader's error (a runtime RtError) must say what and carry an
 * exit code: fuzz_bug if not. */
struct RtError;
void fuzz_check_error(const struct RtError *e);
/* A broken promise: prints what and aborts, so the input is a crash. */
_Noreturn void fuzz_bug(const char *what, const char *detail);

#endif
