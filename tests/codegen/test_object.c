/* test_object.c — the emitted nnrt_model against the C compiler's view.
 *
 *  1. Static layout: every field offset and struct size of meta.c's LLVM
 *     types equals offsetof/sizeof of runtime/nnrt_abi.h's structs.
 *  2. An object file from the backend (EMIT_OBJ), linked by cg_link with
 *     meta_main.c, prints the model and a forward result; the test prints
 *     what it expects from the IR module (and the interpreter) and compares.
 *  3. --emit=llvm and --emit=asm write files; with libnnrt.a built,
 *     --emit=exe links a training binary that answers --help. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define OFF(T, f) offsetof(T, f)

static void test_layout_static(void) {
  LLVMContextRef llc = LLVMContextCreate();
  CgOptions o = {.cpu_native = false};
  char *err = NULL;
  LLVMTargetMachineRef tm = cg_target_machine(&o, &err);
  CgCtx cx = {.llc = llc};
  cx.t_ptr = LLVMPointerTypeInContext(llc, 0), cx.t_i32 = LLVMInt32TypeInContext(llc);
  cx.t_i64 = LLVMInt64TypeInContext(llc), cx.t_f64 = LLVMDoubleTypeInContext(llc);
  LLVMTypeRef tt, ft, mt = cg_meta_types(&cx, &tt, &ft);
  LLVMTypeRef termt, kt = cg_meta_kernel_types(&cx, &termt);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  static const size_t toff[] = {OFF(NnrtTensor, name),   OFF(NnrtTensor, kind),  OFF(NnrtTensor, dtype),
                                OFF(NnrtTensor, rank),   OFF(NnrtTensor, init),  OFF(NnrtTensor, dims),
                                OFF(NnrtTensor, init_a), OFF(NnrtTensor, init_b)};
  static const size_t foff[] = {OFF(NnrtFunc, name),     OFF(NnrtFunc, fn),        OFF(NnrtFunc, workspace_size),
                                OFF(NnrtFunc, n_inputs), OFF(NnrtFunc, n_outputs), OFF(NnrtFunc, inputs),
                                OFF(NnrtFunc, outputs),  OFF(NnrtFunc, n_kernels), OFF(NnrtFunc, kernels)};
  static const size_t koff[] = {OFF(NnrtKernel, name),    OFF(NnrtKernel, ops),     OFF(NnrtKernel, n_bytes),
                                OFF(NnrtKernel, n_flops), OFF(NnrtKernel, n_calls), OFF(NnrtKernel, terms),
                                OFF(NnrtKernel, n_writes), OFF(NnrtKernel, writes)};
  static const size_t woff[] = {OFF(NnrtWrite, name), OFF(NnrtWrite, op),    OFF(NnrtWrite, file),  OFF(NnrtWrite, line),
                                OFF(NnrtWrite, col),  OFF(NnrtWrite, dtype), OFF(NnrtWrite, global)};
  static const size_t eoff[] = {OFF(NnrtTerm, c), OFF(NnrtTerm, e)};
  static const size_t moff[] = {OFF(NnrtModel, abi_version),  OFF(NnrtModel, name),      OFF(NnrtModel, n_syms),
                                OFF(NnrtModel, sym_names),    OFF(NnrtModel, n_globals), OFF(NnrtModel, globals),
                                OFF(NnrtModel, forward),      OFF(NnrtModel, eval_step), OFF(NnrtModel, train_step),
                                OFF(NnrtModel, task),         OFF(NnrtModel, optimizer), OFF(NnrtModel, lr),
                                OFF(NnrtModel, beta1),        OFF(NnrtModel, beta2),     OFF(NnrtModel, eps),
                                OFF(NnrtModel, weight_decay), OFF(NnrtModel, momentum),  OFF(NnrtModel, batch),
                                OFF(NnrtModel, epochs),       OFF(NnrtModel, dataset),   OFF(NnrtModel, seed),
                                OFF(NnrtModel, schedule),     OFF(NnrtModel, early_stop), OFF(NnrtModel, inference),
                                OFF(NnrtModel, output_loss),  OFF(NnrtModel, embedded),
                                OFF(NnrtModel, prune),        OFF(NnrtModel, cuda)};
  struct {
    LLVMTypeRef t;
    const size_t *off;
    unsigned n;
    size_t size;
    const char *name;
  } ts[6] = {{tt, toff, 8, sizeof(NnrtTensor), "NnrtTensor"},
             {ft, foff, 9, sizeof(NnrtFunc), "NnrtFunc"},
             {mt, moff, 28, sizeof(NnrtModel), "NnrtModel"},
             {kt, koff, 8, sizeof(NnrtKernel), "NnrtKernel"},
             {termt, eoff, 2, sizeof(NnrtTerm), "NnrtTerm"},
             {cg_meta_write_type(&cx), woff, 7, sizeof(NnrtWrite), "NnrtWrite"}};
  for (int s = 0; s < 6; s++) {
    EXPECT(LLVMCountStructElementTypes(ts[s].t) == ts[s].n, "%s: field count", ts[s].name);
    EXPECT(LLVMABISizeOfType(td, ts[s].t) == ts[s].size, "%s: size %llu vs %zu", ts[s].name,
           (unsigned long long)LLVMABISizeOfType(td, ts[s].t), ts[s].size);
    for (unsigned i = 0; i < ts[s].n; i++)
      EXPECT(LLVMOffsetOfElement(td, ts[s].t, i) == ts[s].off[i], "%s field %u: offset %llu vs %zu", ts[s].name, i,
             (unsigned long long)LLVMOffsetOfElement(td, ts[s].t, i), ts[s].off[i]);
  }
  LLVMDisposeTargetData(td);
  LLVMDisposeTargetMachine(tm);
  LLVMContextDispose(llc);
}

/* The model of the object test: relu(x @ w + b), a train block. */
static IrModule *small_model(void) {
  IrModule *m = t_module("tiny");
  int64_t B = IR_SYM(ir_sym(m, "B"));
  ir_sym(m, "T");
  int w = ir_global_add(m, (IrGlobal){.name = "dense.w",
                                      .kind = GLOBAL_PARAM,
                                      .ty = T(DT_F32, 4, 3),
                                      .init = NNRT_INIT_GLOROT_UNIFORM,
                                      .init_a = 4,
                                      .init_b = 3});
  int b = ir_global_add(
      m, (IrGlobal){.name = "dense.b", .kind = GLOBAL_PARAM, .ty = T(DT_F32, 3), .init = NNRT_INIT_ZEROS});
  ir_global_add(m, (IrGlobal){.name = "opt.step", .kind = GLOBAL_STATE, .ty = TS(DT_F32), .init = NNRT_INIT_ZEROS});
  m->train = (IrTrain){.present = true,
                       .opt = OPT_ADAMW,
                       .lr = 0.01,
                       .beta1 = 0.8,
                       .beta2 = 0.99,
                       .eps = 1e-7,
                       .weight_decay = 0.5,
                       .momentum = 0.25,
                       .batch = 16,
                       .epochs = 2,
                       .data = "fashion_mnist",
                       .task = NNRT_TASK_CLASSIFY,
                       .seed = 1234567890123ull,
                       .schedule = "step(every: 2, gamma: 0.5)",
                       .prune = "unstructured:0.5,start=0,end=0.75,every=0.01"};
  IrFunc *f = ir_func_new(m, IR_FN_FORWARD);
  int x = ir_input(f, "x", T(DT_F32, B, 4), (Loc){0});
  int y = t_bin(f, OP_MATMUL, x, ir_global_ref(f, w, (Loc){0}), &(Attrs){0});
  int out = t_op(f, OP_RELU, t_op(f, OP_ADD, y, ir_global_ref(f, b, (Loc){0})), 0);
  f->nodes[out].name = "logits";
  ir_ret(f, out);
  return m;
}

/* What meta_main.c should print for m, with the forward sum from ir_interp;
 * infer: m was compiled as an inference binary (CgOptions.infer), whose
 * globals' data is embedded. */
static void expected(const IrModule *m, bool infer, FILE *out) {
  fprintf(out, "abi=%d name=%s syms=%d:", NNRT_ABI_VERSION, m->name, m->nsyms);
  for (int i = 0; i < m->nsyms; i++)
    fprintf(out, " %s", m->syms[i]);
  fprintf(out, "\n");
  for (int i = 0; i < m->nglobals; i++) {
    const IrGlobal *g = &m->globals[i];
    fprintf(out, "global %s kind=%d dtype=%d rank=%d init=%d dims=", g->name, g->kind, g->ty.dt, g->ty.sh.rank,
            g->init);
    for (int k = 0; k < NNRT_MAX_RANK; k++)
      fprintf(out, "%lld%s", (long long)(k < g->ty.sh.rank ? g->ty.sh.d[k] : 0), k + 1 < NNRT_MAX_RANK ? "," : "");
    fprintf(out, " a=%g b=%g\n", g->init_a, g->init_b);
  }
  const IrFunc *f = ir_func_find(m, IR_FN_FORWARD);
  fprintf(out, "forward forward in=1 out=1\n");
  fprintf(out, " input x kind=0 dtype=1 rank=2 init=0 dims=-1,4,0,0,0,0 a=0 b=0\n");
  fprintf(out, " output logits kind=0 dtype=1 rank=2 init=0 dims=-1,3,0,0,0,0 a=0 b=0\n");
  /* The kernel table at B = 3 (kinfo.c's rules), fused: relu(x @ w + b)
   * is one kernel, the matmul with its epilogue. x [3,4] @ w [4,3] is
   * 2*3*3*4 FLOPs over 48 + 48 bytes read and 36 written (the product); the
   * epilogue reads b (12) and writes relu's 36, 9 FLOPs per op. */
  fprintf(out, " kernel k0_matmul ops=matmul,add,relu bytes=180 flops=90 calls=1\n");
  fprintf(out, "eval_step absent fn=0 ws=0\ntrain_step absent fn=0 ws=0\n");
  const IrTrain *t = &m->train;
  fprintf(out, "task=%d opt=%d lr=%g b1=%g b2=%g eps=%g wd=%g mom=%g batch=%d epochs=%d data=%s seed=%llu\n", t->task,
          t->opt, t->lr, t->beta1, t->beta2, t->eps, t->weight_decay, t->momentum, t->batch, t->epochs, t->data,
          (unsigned long long)t->seed);
  fprintf(out, "schedule=%s early_stop=%s\n", t->schedule ? t->schedule : "(null)",
          t->early_stop ? t->early_stop : "(null)");
  bool any = false;
  for (int i = 0; i < m->nglobals; i++)
    any |= m->globals[i].data != NULL;
  fprintf(out, "inference=%d output_loss=%d embedded=%s\n", infer, infer ? t->output_loss : 0,
          infer && any ? "yes" : "none");
  for (int i = 0; infer && any && i < m->nglobals; i++) {
    const IrGlobal *g = &m->globals[i];
    fprintf(out, " %s:", g->name);
    const unsigned char *p = g->data;
    for (int64_t k = 0; p && k < ir_numel_static(&g->ty.sh) * ir_dtype_size(g->ty.dt); k++)
      fprintf(out, " %02x", p[k]);
    fprintf(out, p ? "\n" : " none\n");
  }
  fprintf(out, "prune=%s\n", t->prune ? t->prune : "(null)");
  int64_t syms[2] = {3, 3};
  double w[12], b[3], x[12], o[9];
  double zeros[8] = {0}; /* the other globals forward does not read */
  double *gl[8] = {w, b, zeros, zeros, zeros, zeros, zeros, zeros};
  for (int i = 0; i < 12; i++)
    w[i] = (double)(i % 7 - 3) / 4, x[i] = w[i];
  for (int i = 0; i < 3; i++)
    b[i] = (double)(i % 7 - 3) / 4;
  char err[128];
  double *in[1] = {x}, *outs[1] = {o};
  ir_interp(f, syms, gl, in, outs, err, sizeof err);
  double s = 0;
  for (int i = 0; i < 9; i++)
    s += o[i];
  fprintf(out, "sum(output 0)=%.4f\n", s);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = calloc(1, 1 << 16);
  size_t n = fread(buf, 1, (1 << 16) - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) ? -1 : (long)st.st_size;
}

/* Compiles m as o says (to o->out_path, an object), links it with
 * meta_main.c into exe, runs it and compares what it prints (outp) with
 * expected() (want). */
static void read_back(const IrModule *m, const CgOptions *o, const char *exe, const char *extra, const char *outp,
                      const char *want) {
  char cmd[512];
  EXPECT(cg_cpu_backend.compile(m, o), "emit object");
  EXPECT(cg_link(&cg_cpu_backend, &o->out_path, 1, exe, extra, o), "link with meta_main.c");
  snprintf(cmd, sizeof cmd, "%s > %s", exe, outp);
  EXPECT(system(cmd) == 0, "run %s", exe);
  FILE *f = fopen(want, "w");
  expected(m, o->infer, f);
  fclose(f);
  char *got = slurp(outp), *exp = slurp(want);
  EXPECT(got && exp && !strcmp(got, exp), "model read back from C differs:\n--- got\n%s--- expected\n%s",
         got ? got : "", exp ? exp : "");
  free(got), free(exp);
}

static void test_object_roundtrip(void) {
  IrModule *m = small_model();
  t_set_fused(m, true); /* relu(x @ w + b): the object calls nnrt_sgemm_ep with its epilogue */
  char dir[] = "/tmp/nnc-cgtest-XXXXXX";
  if (!mkdtemp(dir)) {
    EXPECT(0, "mkdtemp");
    return;
  }
  char obj[128], exe[128], outp[128], want[128], cmd[512], extra[1024];
  snprintf(obj, sizeof obj, "%s/tiny.o", dir);
  snprintf(exe, sizeof exe, "%s/tiny", dir);
  snprintf(outp, sizeof outp, "%s/out.txt", dir);
  snprintf(want, sizeof want, "%s/want.txt", dir);
  Diag d;
  diag_init(&d, stdout);
  CgOptions o = {.out_path = obj, .emit = EMIT_OBJ, .opt_level = 2, .cpu_native = false, .diag = &d};
  /* 60 redundant arguments first: none may be dropped (once, the 48th on
   * were, which lost meta_main.c here). */
  size_t at = 0;
  for (int i = 0; i < 60; i++)
    at += (size_t)snprintf(extra + at, sizeof extra - at, "-lm ");
  snprintf(extra + at, sizeof extra - at, "-I%s/runtime %s", NNC_SOURCE_DIR, NNC_META_MAIN);
  read_back(m, &o, exe, extra, outp, want);

  /* A link failure names the command and its status. */
  CgOptions bad = o;
  Diag bd;
  diag_init(&bd, tmpfile());
  bad.cc = "false";
  bad.diag = &bd;
  EXPECT(!cg_link(&cg_cpu_backend, (const char *[]){obj}, 1, exe, NULL, &bad) && bd.nerrors == 1, "a failing linker must be reported");
  rewind(bd.out);
  char msg[512] = "";
  size_t nr = fread(msg, 1, sizeof msg - 1, bd.out);
  msg[nr] = 0;
  EXPECT(strstr(msg, "`false ") && strstr(msg, "exited with status 1"), "link error message: %s", msg);
  fclose(bd.out);
  /* So does a linker that does not exist. */
  diag_init(&bd, tmpfile());
  bad.cc = "nnc-no-such-linker";
  EXPECT(!cg_link(&cg_cpu_backend, (const char *[]){obj}, 1, exe, NULL, &bad) && bd.nerrors == 1, "a missing linker must be reported");
  rewind(bd.out);
  nr = fread(msg, 1, sizeof msg - 1, bd.out);
  msg[nr] = 0;
  EXPECT(strstr(msg, "cannot run the linker 'nnc-no-such-linker': No such file or directory"), "link error message: %s",
         msg);
  fclose(bd.out);

  static const struct {
    EmitKind k;
    const char *file;
    const char *needle;
  } emits[] = {{EMIT_LLVM, "tiny.ll", "@nnrt_model"}, {EMIT_ASM, "tiny.s", "nnrt_model"}};
  for (int i = 0; i < 2; i++) {
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, emits[i].file);
    CgOptions e = o;
    e.out_path = path, e.emit = emits[i].k;
    EXPECT(cg_cpu_backend.compile(m, &e), "emit %s", emits[i].file);
    char *text = slurp(path);
    EXPECT(text && strstr(text, emits[i].needle), "%s lacks %s", emits[i].file, emits[i].needle);
    free(text);
    unlink(path);
  }
  if (file_size(NNRT_LIB) > 0) {
    CgOptions e = o;
    e.out_path = exe, e.emit = EMIT_EXE, e.runtime_lib = NNRT_LIB, e.cpu_native = true;
    EXPECT(cg_cpu_backend.compile(m, &e), "emit exe");
    snprintf(cmd, sizeof cmd, "%s --help > %s 2>&1", exe, outp);
    EXPECT(system(cmd) == 0, "%s --help", exe);
  } else {
    printf("  (libnnrt.a not built: --emit=exe not tested)\n");
  }
  /* Globals with data (a --checkpoint build's weights) of every element
   * size: a training binary does not embed them; an inference binary
   * (CgOptions.infer) does, byte for byte, 64-byte aligned, NULL for a
   * global without data. */
  static const float w_data[12] = {0.5f, -1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -0.25f};
  static const int8_t q_data[5] = {-128, 127, 0, -1, 3};
  static const uint8_t z_data[3] = {0, 255, 128};
  static const int32_t c_data[2] = {-2147483647 - 1, 65537};
  m->globals[0].data = w_data;
  ir_global_add(m, (IrGlobal){.name = "q", .kind = GLOBAL_PARAM, .ty = T(DT_I8, 5), .data = q_data});
  ir_global_add(m, (IrGlobal){.name = "z", .kind = GLOBAL_PARAM, .ty = T(DT_U8, 3), .data = z_data});
  ir_global_add(m, (IrGlobal){.name = "c", .kind = GLOBAL_STATS, .ty = T(DT_I32, 2), .data = c_data});
  m->train.output_loss = NNRT_LOSS_CROSS_ENTROPY;
  read_back(m, &o, exe, extra, outp, want);
  CgOptions inf = o;
  inf.infer = true;
  read_back(m, &inf, exe, extra, outp, want);
  unlink(obj), unlink(exe), unlink(outp), unlink(want);
  rmdir(dir);
}

void test_object(void) {
  test_layout_static();
  test_object_roundtrip();
}
