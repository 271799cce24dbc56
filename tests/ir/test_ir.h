/* test_ir.h — what the IR tests' files share (test_ir.c, test_ir_random.c,
 * test_ir_errors.c):
 * the check counter, type and module builders, and text round trips. */
#ifndef NNC_TEST_IR_H
#define NNC_TEST_IR_H
#include <stdint.h>

#include "ir/ir.h"
#include "passes/passes.h"

bool check(bool ok, const char *what, const char *file, int line);
#define CHECK(c) check((c), #c, __FILE__, __LINE__)

extern const Loc L0;
/* A type of rank dims given as int64_t varargs (D(x) casts one). */
Type T(DType dt, int rank, ...);
#define D(x) ((int64_t)(x))

/* Printing to memory, diagnostics captured to memory. */
char *print_str(const IrModule *m);
void diag_capture(Diag *d);
char *diag_text(Diag *d);
/* print(parse(print(m))) == print(m), both verifying; says why when not. */
bool roundtrip_ok(const IrModule *m, const char *what);
/* Parses text as "t.nnir"; the diagnostics go to *errs (malloc'd) when
 * errs is not NULL. */
IrModule *parse_str(Arena *a, const char *text, char **errs);

/* Builders. */
int global(IrModule *m, const char *name, GlobalKind k, Type ty, int init, double a, double b);
int emit(IrFunc *f, OpKind op, const int *args, int n, Attrs at, const Type *hint);
void name(IrFunc *f, int v, const char *s);
/* A reduction of x over one axis. */
int reduce(IrFunc *f, OpKind op, int x, int axis, int keepdims);
IrModule *build_mlp(Arena *a);
IrModule *build_every_op(Arena *a);

/* test_scan_rows.c: ir_scan_rows. */
void test_scan_rows(void);

/* test_ir_random.c: random modules round-trip; fuzzed text never crashes
 * the parser, and what it accepts verifies and round-trips. */
void test_ir_seed(uint64_t seed);
void test_random_roundtrip(void);
void test_fuzz(void);

/* test_ir_errors.c: the verifier's, attrs.def's and the parser's errors. */
void test_verify(void);
void test_attr_table(void);
void test_parse_errors(void);

#endif
