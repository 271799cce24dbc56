/* test_nan.c — NaN, infinities and ties through the ops whose PyTorch
 * definitions say what happens to them (docs/hardening.md, "NaN"):
 * exp over its whole range, relu and the activations, the max reduction, max pooling and its
 * gradient's argmax, softmax, the comparisons and where. Each case is a
 * function y = op(x) with fixed inputs and, for a differentiable op, the
 * gradient of sum(y * w) (autodiff's VJP, so the rules of passes/vjp.c are
 * what is tested). The generated code must agree with the interpreter
 * (unfused, fused at -O0 and -O2, NaN for NaN), and it prints its results,
 * "nan <case> out <result> <values>", with the inputs, "nan <case> in
 * <input> <values>": tests/codegen/nan_torch.py runs this group and compares
 * every printed value with PyTorch's. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "passes/autodiff.h"

/* A case: its op, attributes, input shapes and values (at most 3 inputs);
 * grad: the gradient of sum(op(x) * w) with respect to input 0 is returned
 * too, w the last input (values 1, 1.5, 2, ...). */
typedef struct NanCase {
  const char *name;
  OpKind op;
  Attrs at;
  int nin;
  Type in[3];
  const double *val[3];
  bool grad;
  double tol; /* against the interpreter; 0: 1e-6 */
} NanCase;

static const double V12[] = {NAN, 1, -1, 0, -INFINITY, INFINITY, 2.5, -3, NAN, 0.5, -0.5, 30};

/* Rows: a NaN among numbers, two NaNs, a tie, all -inf. */
static const double ROWS[] = {1, NAN, 5, NAN, NAN, 2, 2, 2, 0, -INFINITY, -INFINITY, -INFINITY};

/* Rows of 32, long enough for the vector loops (softmax's max is a
 * vector maxnum that may skip a NaN: the sum of exps must still carry it):
 * a NaN in the middle of the row; a causal mask's row, its second half
 * -inf. */
static double WIDE[64];

static void wide_rows(void) {
  for (int k = 0; k < 32; k++) {
    WIDE[k] = k == 20 ? NAN : 0.25 * k - 3;
    WIDE[32 + k] = k < 16 ? 0.5 * k - 2 : -INFINITY;
  }
}

/* 4x6 for a 2x2 pool of stride 2: windows with one NaN, two NaNs (the
 * last one wins), a tie, all -inf, NaN after the maximum, and a plain one. */
static const double POOL[] = {1,    NAN, NAN, 0, 2,     2,     /**/
                              2,    3,    1,    NAN, 2,  2,     /**/
                              -INFINITY, -INFINITY, 4,  9, 0,     NAN,  /**/
                              -INFINITY, -INFINITY, 3,  1, -1,    7};

/* exp's whole range: subnormal results (below -87.3), the underflow to 0
 * (below -103.97), the largest finite results (88.72: the interpreter's
 * doubles overflow f32 only past it), the infinities. */
static const double EXP_X[] = {-200, -104, -103.5, -100, -95, -90, -87.5, -87, -50,  -10,  -1,        -1e-3,     0,  1e-3,
                               0.5,  1,    3.25,   10,   50,  87,  88,    88.5, 88.7, 88.72, INFINITY, -INFINITY, NAN, 2};

/* tanh where it rounds to +-1 in f32 (past 9.0109; from 10 on, where the
 * interpreter's double is within 4.1e-9 of 1, so that 1e-8 tells 1 from
 * 1 - 1 ulp = 1 - 6e-8): a
 * saturated tanh must be exactly +-1, as tanhf and the interpreter's
 * double tanh rounded to f32 give, so that its gradient 1 - y^2 is exactly
 * 0 as PyTorch's is (the interpreter's gradient, from the double, is not:
 * the values are what is checked). */
static const double TANH_SAT[] = {10, 10.5, 12, 30, 1e30, INFINITY, -10, -10.5, -12, -30, -1e30, -INFINITY};

static const double CMP_A[] = {NAN, 1, NAN, 2, INFINITY, -INFINITY};
static const double CMP_B[] = {1, NAN, NAN, 2, INFINITY, 0};
static const double WHERE_X[] = {10, 11, 12, 13, 14, 15};
static const double WHERE_Y[] = {-10, -11, -12, -13, -14, -15};

static void run_case(const NanCase *c) {
  IrModule *m = t_module("nan");
  IrFunc *f = ir_func_new(m, IR_FN_FORWARD);
  int x[3];
  for (int i = 0; i < c->nin; i++) x[i] = ir_input(f, (const char *[]){"a", "b", "c"}[i], c->in[i], (Loc){0});
  int y = ir_emit(f, c->op, x, c->nin, &c->at, NULL, (Loc){0}, NULL);
  if (y < 0) unreachable("test IR does not type-check");
  ir_ret(f, y);
  double w[64];
  const double *vals[4] = {c->val[0], c->val[1], c->val[2]};
  vals[c->nin] = w; /* the input after x's */
  if (c->grad) {
    int wi = ir_input(f, "w", f->nodes[y].ty, (Loc){0});
    for (int k = 0; k < 64; k++) w[k] = 1 + 0.5 * k;
    Attrs all = {.naxes = f->nodes[y].ty.sh.rank};
    for (int i = 0; i < all.naxes; i++) all.axes[i] = i;
    int prod = ir_op2(f, OP_MUL, y, wi, (Loc){0});
    int loss = ir_emit(f, OP_SUM, &prod, 1, &all, NULL, (Loc){0}, NULL), g;
    ad_grad(f, loss, &x[0], 1, &g);
    ir_ret(f, g);
  }
  for (int i = 0; i < c->nin; i++) {
    printf("nan %s in %d", c->name, i);
    for (int64_t k = 0; k < ir_numel(&c->in[i].sh, NULL); k++) printf(" %.9g", c->val[i][k]);
    printf("\n");
  }
  CheckOpts o = {.values = vals, .tol = c->tol > 0 ? c->tol : 1e-6};
  t_check3(m, o, c->name);
  char prefix[64];
  snprintf(prefix, sizeof prefix, "nan %s out", c->name);
  o.print = prefix;
  EXPECT(cg_check(m, &o, c->name), "%s (printed)", c->name);
}

void test_nan(void) {
  const Type v28 = T(DT_F32, 1, 28), v12 = T(DT_F32, 2, 6), rows = T(DT_F32, 4, 3), pool = T(DT_F32, 1, 1, 4, 6), v6 = T(DT_F32, 6),
             wide = T(DT_F32, 2, 32);
  wide_rows();
  const NanCase cases[] = {
      {"relu", OP_RELU, {0}, 1, {v12}, {V12}, true, 0},
      {"step", OP_STEP, {0}, 1, {v12}, {V12}, false, 0},
      {"leaky_relu", OP_LEAKY_RELU, {.value = 0.1}, 1, {v12}, {V12}, true, 0},
      {"elu", OP_ELU, {.value = 1}, 1, {v12}, {V12}, true, 0},
      {"exp", OP_EXP, {0}, 1, {v28}, {EXP_X}, false, 0},
      {"sigmoid", OP_SIGMOID, {0}, 1, {v12}, {V12}, false, 0},
      {"tanh", OP_TANH, {0}, 1, {v12}, {V12}, false, 0},
      {"tanh_saturated", OP_TANH, {0}, 1, {v12}, {TANH_SAT}, false, 1e-8},
      {"softplus", OP_SOFTPLUS, {0}, 1, {v12}, {V12}, false, 0},
      {"max", OP_MAX, {.naxes = 1, .axes = {1}}, 1, {rows}, {ROWS}, true, 0},
      {"softmax", OP_SOFTMAX, {.axis = 1}, 1, {rows}, {ROWS}, true, 0},
      {"softmax_wide", OP_SOFTMAX, {.axis = 1}, 1, {wide}, {WIDE}, true, 0},
      {"log_softmax_wide", OP_LOG_SOFTMAX, {.axis = 1}, 1, {wide}, {WIDE}, true, 0},
      {"maxpool2d", OP_MAXPOOL2D, {.kernel = 2, .stride = 2}, 1, {pool}, {POOL}, true, 0},
      {"maxpool2d_overlap", OP_MAXPOOL2D, {.kernel = 3, .stride = 1}, 1, {pool}, {POOL}, true, 0},
      {"eq", OP_EQ, {0}, 2, {v6, v6}, {CMP_A, CMP_B}, false, 0},
      {"ne", OP_NE, {0}, 2, {v6, v6}, {CMP_A, CMP_B}, false, 0},
      {"lt", OP_LT, {0}, 2, {v6, v6}, {CMP_A, CMP_B}, false, 0},
      {"le", OP_LE, {0}, 2, {v6, v6}, {CMP_A, CMP_B}, false, 0},
      {"gt", OP_GT, {0}, 2, {v6, v6}, {CMP_A, CMP_B}, false, 0},
      {"ge", OP_GE, {0}, 2, {v6, v6}, {CMP_A, CMP_B}, false, 0},
      {"where", OP_WHERE, {0}, 3, {v6, v6, v6}, {CMP_A, WHERE_X, WHERE_Y}, false, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
}
