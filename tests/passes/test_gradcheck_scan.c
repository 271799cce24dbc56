/* test_gradcheck_scan.c — f64 central differences against the gradients of
 * whole models: through `scan`, a plain RNN (forward and reverse) whose
 * initial state and sequence are parameters too, so every kind of scan
 * operand is checked, and LSTMs, GRUs and simple RNNs as the frontend lowers
 * them (single, bidirectional returning sequences, stacked, reversed);
 * the recurrent ones also after scan-hoist (their weight gradients summed
 * after the backward scan); conv1d (valid; stride 2, same) with the global poolings; conv2d over
 * channels-last images; batch norms in training and evaluation mode; one
 * Transformer block with causal self-attention written per head, and the
 * multihead_attention layer with and without its masks. */
#include "frontend/frontend.h"
#include "gradcheck.h"
#include "passes/passes.h"

/* xs: f32[4,2,3] and h0: f32[2,3] are parameters (a static batch of 2). */
static const char *rnn_text(int reverse, char *buf, size_t len) {
  snprintf(buf, len,
           "module rnn\nparam @u : f32[3,3] = zeros\nparam @h0 : f32[2,3] = zeros\nparam @xs : f32[4,2,3] = zeros\n"
           "func cell(%%h: f32[2,3], %%x: f32[2,3], %%u: f32[3,3]) -> (f32[2,3], f32[2,3]) {\n"
           "  %%m = matmul %%h, %%u {ta=0, tb=0} : f32[2,3]\n  %%a = add %%m, %%x : f32[2,3]\n"
           "  %%hn = tanh %%a : f32[2,3]\n  %%y = mul %%hn, %%x : f32[2,3]\n  return %%hn, %%y\n}\n"
           "func eval_step() -> (f32[]) {\n"
           "  %%u = global @u : f32[3,3]\n  %%h0 = global @h0 : f32[2,3]\n  %%xs = global @xs : f32[4,2,3]\n"
           "  %%s = scan %%h0, %%xs, %%u {body=@cell, carries=1, seqs=1, reverse=%d}\n"
           "  %%hT = scan_out %%s {result=0} : f32[2,3]\n  %%ys = scan_out %%s {result=1} : f32[4,2,3]\n"
           "  %%sq = mul %%ys, %%ys : f32[4,2,3]\n  %%l = sum %%sq {axes=[0,1,2], keepdims=0} : f32[]\n"
           "  %%e = exp %%hT : f32[2,3]\n  %%l2 = sum %%e {axes=[0,1], keepdims=0} : f32[]\n"
           "  %%lt = add %%l, %%l2 : f32[]\n  return %%lt\n}\n",
           reverse);
  return buf;
}

/* Scan carries in all of m's functions. */
static int scan_carries(const IrModule *m) {
  int n = 0;
  for (int i = 0; i < m->nfuncs; i++)
    for (int j = 0; j < m->funcs[i]->n; j++)
      if (m->funcs[i]->nodes[j].op == OP_SCAN) n += m->funcs[i]->nodes[j].at.ncarry;
  return n;
}

/* Checks d loss / d every parameter of m's function fn (eval_step, or
 * loss_step: training mode) at random parameters and inputs (f32 in [-1,
 * 1], i32 labels in {0, 1}; layer statistics, variances among them, in
 * [0.5, 1.5]). With hoist, the gradient function is checked after
 * simplify and scan-hoist (as the pipeline runs them), which must move some weight gradient's sum out of a
 * backward scan. */
static void check_params_hoisted(IrModule *m, const char *fn, const char *what, bool hoist) {
  const IrFunc *e = ir_func_find(m, fn);
  if (!e) {
    result(false, "%s: the model has no %s", what, fn);
    return;
  }
  IrFunc *g = ad_build_grad_func(m, e, "grad");
  if (hoist) {
    int before = scan_carries(m);
    Diag d;
    diag_init(&d, stdout);
    PassCtx ctx = {.diag = &d, .verify = true};
    bool moved = pass_run_pipeline(m, (const char *[]){"simplify", "scan-hoist"}, 2, &ctx) && scan_carries(m) < before;
    result(moved, "%s: scan-hoist moves a carry out of a backward scan (%d carries before, %d after)", what, before,
           scan_carries(m));
    e = ir_func_find(m, fn);
  }
  int np = g->nrets - 1;
  double **gl = calloc((size_t)m->nglobals + 1, sizeof *gl), *in[8] = {0}, loss = 0;
  for (int i = 0; i < m->nglobals; i++) {
    gl[i] = alloc_for(&m->globals[i].ty);
    for (int64_t j = 0; j < numel(&m->globals[i].ty); j++)
      gl[i][j] = m->globals[i].kind == GLOBAL_STATS ? urand(0.5, 1.5) : urand(-0.8, 0.8);
  }
  int nin = 0;
  for (int i = 0; i < e->n && nin < 8; i++)
    if (e->nodes[i].op == OP_INPUT) {
      const Type *t = &e->nodes[i].ty;
      in[nin] = alloc_for(t);
      for (int64_t j = 0; j < numel(t); j++) in[nin][j] = t->dt == DT_I32 ? floor(urand(0, 2)) : urand(-1, 1);
      nin++;
    }
  double **out = calloc((size_t)np + 2, sizeof *out), **scratch = calloc((size_t)np + 2, sizeof *scratch);
  out[0] = scratch[0] = &loss;
  int params[64];
  ad_params_read(e, params);
  for (int p = 0; p < np; p++) out[p + 1] = alloc_for(&m->globals[params[p]].ty), scratch[p + 1] = alloc_for(&m->globals[params[p]].ty);
  bool ok = verify(m) && run(g, gl, in, out);
  double worst = 0, h = 1e-6;
  int checked = 0;
  for (int p = 0; ok && p < np; p++) {
    double *w = gl[params[p]];
    for (int64_t j = 0; ok && j < numel(&m->globals[params[p]].ty); j++, checked++) {
      double keep = w[j], lp, lm;
      w[j] = keep + h;
      ok = run(g, gl, in, scratch);
      lp = loss;
      w[j] = keep - h;
      ok = ok && run(g, gl, in, scratch);
      lm = loss;
      w[j] = keep;
      double num = (lp - lm) / (2 * h), err = rel_err(out[p + 1][j], num);
      if (err > 1e-6)
        printf("  @%s[%lld]: analytic %.12g numeric %.12g\n", m->globals[params[p]].name, (long long)j, out[p + 1][j], num);
      worst = fmax(worst, err);
    }
  }
  result(ok && worst <= 1e-6 && checked > 0, "grad of a sequence model: %s (%d parameters, %d elements): rel err %.1e", what, np,
         checked, worst);
  for (int p = 1; p <= np; p++) free(out[p]), free(scratch[p]);
  free(out), free(scratch);
  for (int i = 0; i < nin; i++) free(in[i]);
  for (int i = 0; i < m->nglobals; i++) free(gl[i]);
  free(gl);
}

static void check_params_of(IrModule *m, const char *fn, const char *what) { check_params_hoisted(m, fn, what, false); }
static void check_params(IrModule *m, const char *what) { check_params_of(m, IR_FN_EVAL, what); }

static IrModule *from_nn(Arena *a, const char *src) {
  Diag d;
  diag_init(&d, stdout);
  FeModel *fm = fe_compile(a, &d, "<scan test>", src, strlen(src));
  return fm ? fm->mod : NULL;
}

void scan_checks(void) {
  char buf[4096];
  for (int rev = 0; rev < 2; rev++) {
    Arena *a = arena_new();
    Diag d;
    diag_init(&d, stdout);
    const char *text = rnn_text(rev, buf, sizeof buf);
    IrModule *m = ir_parse(a, &d, "<rnn>", text, strlen(text));
    if (m) check_params(m, rev ? "RNN, reverse (init, sequence, constant)" : "RNN (init, sequence, constant)");
    else result(false, "RNN IR parses");
    arena_free(a);
  }
  static const struct {
    const char *what, *body;
  } models[] = {
      {"LSTM, 3 steps, last state", "h = lstm(x, 3)\n logits = dense(h, 2)"},
      {"bidirectional LSTM over 3 steps, sequences", "h = lstm(x, 2, sequences: true, bidirectional: true)\n"
                                                     " logits = dense(mean(h, axis: 1), 2)"},
      {"two stacked LSTMs, the second reversed", "s = lstm(x, 2, sequences: true)\n h = lstm(s, 3, reverse: true)\n"
                                                 " logits = dense(h, 2)"},
      {"GRU, 3 steps, last state", "h = gru(x, 3)\n logits = dense(h, 2)"},
      {"bidirectional GRU, sequences, then a reversed GRU", "s = gru(x, 2, sequences: true, bidirectional: true)\n"
                                                         " h = gru(s, 2, reverse: true)\n logits = dense(h, 2)"},
      {"simple RNN, then a bidirectional one over its sequence", "s = simple_rnn(x, 3, sequences: true)\n"
                                                               " h = simple_rnn(s, 2, bidirectional: true)\n"
                                                               " logits = dense(h, 2)"},
      {"conv1d, valid, then a global average pool", "h = conv1d(x, 3, 2, activation: tanh) |> global_avgpool\n"
                                                   " logits = dense(h, 2)"},
      {"conv1d, stride 2, same padding, then a global max pool",
       "h = conv1d(x, 2, 3, stride: 2, padding: \"same\") |> conv1d(3, 1, padding: \"same\") |> global_maxpool\n"
       " logits = dense(h, 2)"},
      {"conv2d over channels-last images", "h = conv2d(reshape(x, [B, 3, 2, 1]), 2, 2, channels_last: true) |> flatten\n"
                                          " logits = dense(h, 2)"},
  };
  /* The recurrent ones (the first six) again with their weight gradients'
   * sums moved out of the backward scans (passes/scan_hoist.c). */
  for (size_t i = 0; i < sizeof models / sizeof *models + 6; i++) {
    size_t k = i % (sizeof models / sizeof *models);
    bool hoist = i >= sizeof models / sizeof *models;
    Arena *a = arena_new();
    char src[1024], what[256];
    snprintf(src, sizeof src,
             "model m {\n input x: f32[B, 3, 2]\n input y: i32[B]\n %s\n output logits\n"
             " minimize cross_entropy(logits, y)\n}\n",
             models[k].body);
    snprintf(what, sizeof what, "%s%s", models[k].what, hoist ? ", scan-hoist" : "");
    IrModule *m = from_nn(a, src);
    if (m) check_params_hoisted(m, IR_FN_EVAL, what, hoist);
    else result(false, "%s: compiles", what);
    arena_free(a);
  }

  /* Batch norms over dense features and NCHW channels, in both modes:
   * loss_step normalises by the batch's statistics (the gradient flows
   * through them), eval_step by the running ones. */
  static const char *bn =
      "model bn {\n input x: f32[B, 3, 2]\n input y: i32[B]\n"
      " h = dense(flatten(x), 4, use_bias: false) |> batch_norm |> tanh\n"
      " c = reshape(x, [B, 2, 3, 1]) |> batch_norm(momentum: 0.3, eps: 1e-3) |> flatten\n"
      " logits = dense(concat(h, c), 2)\n output logits\n minimize cross_entropy(logits, y)\n}\n";
  for (int train = 0; train < 2; train++) {
    Arena *a = arena_new();
    IrModule *m = from_nn(a, bn);
    if (m) check_params_of(m, train ? IR_FN_LOSS : IR_FN_EVAL, train ? "batch norms [B,4] and [B,2,3,1], training mode"
                                                                 : "batch norms [B,4] and [B,2,3,1], evaluation mode");
    else result(false, "batch norm model: compiles");
    arena_free(a);
  }

  /* One pre-norm Transformer block as char_gpt writes it (2 heads of 4 over
   * 4 steps): layer_norm, dense over a sequence, split heads, causal masked
   * softmax, residual, a gelu MLP, then a head over the mean. */
  static const char *block =
      "model attn {\n input x: f32[B, 4, 8]\n input y: i32[B]\n"
      " qkv = dense(layer_norm(x, name: \"ln1\"), 24, name: \"qkv\")\n"
      " q = split(qkv, 3, 0) * 0.5\n k = transpose(split(qkv, 3, 1), [0, 2, 1])\n v = split(qkv, 3, 2)\n"
      " a0 = causal_mask(split(q, 2, 0) @ slice(k, 1, 0, 4)) |> softmax\n"
      " a1 = causal_mask(split(q, 2, 1) @ slice(k, 1, 4, 8)) |> softmax\n"
      " h = x + dense(concat(a0 @ split(v, 2, 0), a1 @ split(v, 2, 1)), 8, name: \"proj\")\n"
      " h = h + dense(dense(layer_norm(h, name: \"ln2\"), 16, name: \"fc\") |> gelu, 8, name: \"out\")\n"
      " logits = dense(mean(h, axis: 1), 2)\n output logits\n minimize cross_entropy(logits, y)\n}\n";
  Arena *a = arena_new();
  IrModule *m = from_nn(a, block);
  if (m) check_params(m, "one causal self-attention block (2 heads, layer norms, gelu MLP, residuals)");
  else result(false, "attention block: compiles");
  arena_free(a);

  /* The multihead_attention layer (heads as one 4-d batched product):
   * without masks, causal, and with a key-padding mask from ids in {0, 1}
   * (so some rows are all padding: zero weights, output bo) pooled by
   * mean_pool over the same mask; the ids index an embedding table. */
  static const struct {
    const char *what, *body;
  } mha[] = {
      {"multihead_attention, 2 heads, no mask", "input x: f32[B, 4, 8]\n h = multihead_attention(x, heads: 2)\n"
                                                " logits = dense(mean(h, axis: 1), 2)"},
      {"multihead_attention, 4 heads, causal", "input x: f32[B, 4, 8]\n h = multihead_attention(x, heads: 4, causal: true)\n"
                                               " logits = dense(mean(h, axis: 1), 2)"},
      {"multihead_attention, key padding, mean_pool", "input t: i32[B, 4]\n e = embedding(t, 2, 8)\n"
                                                      " h = multihead_attention(e, heads: 2, mask: t)\n"
                                                      " logits = dense(mean_pool(h, mask: t), 2)"},
      {"multihead_attention, causal + padding id 1", "input t: i32[B, 4]\n e = embedding(t, 2, 8)\n"
                                                     " h = e + multihead_attention(e, heads: 2, causal: true, mask: t, pad: 1)\n"
                                                     " logits = dense(mean_pool(h, mask: t, pad: 1), 2)"},
  };
  for (size_t i = 0; i < sizeof mha / sizeof *mha; i++) {
    Arena *am = arena_new();
    char src[1024];
    snprintf(src, sizeof src, "model m {\n %s\n input y: i32[B]\n output logits\n minimize cross_entropy(logits, y)\n}\n",
             mha[i].body);
    IrModule *mm = from_nn(am, src);
    if (mm) check_params(mm, mha[i].what);
    else result(false, "%s: compiles", mha[i].what);
    arena_free(am);
  }
}
