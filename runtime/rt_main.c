/* rt_main.c — main() of every binary nnc builds: the command line.
 *
 *   <prog> train | eval | predict | bench | profile | data | sample [options]
 *   <prog> --help | --version
 *
 * An inference binary (nnc build --infer: NnrtModel.inference) has no
 * train or profile (CMD_TRAINING_ONLY).
 *
 * Options are declared once, in OPTIONS below: name, value placeholder, the
 * commands that take them, and the help line; parsing, the "not an option of
 * this command" check and --help all come from that table. Defaults come
 * from the train { } block compiled into nnrt_model. This is the only file
 * that names nnrt_model. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include "rt_numerics.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
  CMD_TRAIN = 1,
  CMD_EVAL = 2,
  CMD_PREDICT = 4,
  CMD_BENCH = 8,
  CMD_ALL = 15,
  CMD_DATA = 16,
  CMD_SAMPLE = 32,
  CMD_PROFILE = 64,
  CMD_TIMED = CMD_BENCH | CMD_PROFILE
};

/* X(id, name, value placeholder or NULL for a flag, commands, help) */
#define OPTIONS(X)                                                                                                     \
  X(EPOCHS, "epochs", "N", CMD_TRAIN, "epochs to train in total, counting resumed ones")                               \
  X(BATCH, "batch", "N", CMD_ALL | CMD_PROFILE, "samples per batch; the last batch of an epoch may be smaller")                      \
  X(LR, "lr", "X", CMD_TRAIN | CMD_TIMED, "learning rate")                                                             \
  X(THREADS, "threads", "N", CMD_ALL | CMD_SAMPLE | CMD_PROFILE,                                                                     \
    "threads for parallel loops and matrix products (results do not depend on it)")                                    \
  X(SEED, "seed", "N", CMD_TRAIN | CMD_TIMED, "seeds parameter init, the validation split, shuffling, dropout")        \
  X(DATA, "data", "DIR", CMD_TRAIN | CMD_EVAL | CMD_TIMED | CMD_DATA,                                                  \
    "data set directory: train_x.npy, train_y.npy, test_x.npy, test_y.npy, or train.csv and test.csv, or the IDX "     \
    "files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "                                 \
    "t10k-labels-idx1-ubyte (each optionally .gz). IDX pixels are scaled to [0, 1]; .npy "                             \
    "values are used as stored. Or one CSV file, split into train and test: FILE.csv[?label=NAME&test=F&seed=S]. "     \
    "Or a text data set (see the data command's help): "                                                               \
    "fortunes:CAT,CAT[?len=L&vocab=N&test=F&seed=S&dir=DIR] or fortunes-chars:CAT[?len=T...]")                         \
  X(DATA_PREDICT, "data", "DIR", CMD_PREDICT,                                                                          \
    "the data set the model was trained on, for its class names, a text model's tokenizer (len, pad) and a CSV's "     \
    "label column")                                                                                                    \
  X(LABEL_COLUMN, "label-column", "NAME", CMD_TRAIN | CMD_EVAL | CMD_PREDICT | CMD_TIMED | CMD_DATA,                   \
    "CSV data: the column holding the labels (integers for classification, numbers for regression); every other "      \
    "column is a feature. predict skips it when the input has it")                                                     \
  X(VAL_SPLIT, "val-split", "F", CMD_TRAIN,                                                                            \
    "fraction of the training set held out for validation: its last F after one shuffle "                              \
    "seeded by --seed, the same every epoch; 0 for none")                                                              \
  X(VALIDATION_DATA, "validation-data", "DIR", CMD_TRAIN,                                                              \
    "validate on this data set (in --data's format; its training split) instead of a split of the training set")      \
  X(SCHEDULE, "schedule", "SPEC", CMD_TRAIN,                                                                           \
    "learning-rate schedule, as in the train block: 'step(every: E, gamma: G)' (lr x G every E epochs), "             \
    "'cosine(warmup: W, min_lr: M)' (linear warm-up over W steps, then a half cosine to M at the last step), "          \
    "'plateau(monitor: val_loss, patience: P, factor: F, min_delta: D, min_lr: M)' (lr x F after P epochs "             \
    "without improvement), or none")                                                                                   \
  X(EARLY_STOP, "early-stop", "SPEC", CMD_TRAIN,                                                                       \
    "stop when a metric has not improved for `patience` epochs: 'val_loss(patience: 3, min_delta: 0)', "             \
    "a bare metric, or none; metrics: loss, acc, precision, recall, auc, mae, each also val_")                        \
  X(INIT, "init", "FILE", CMD_TRAIN, "start from the parameters in this .safetensors file")                            \
  X(CHECKPOINT, "checkpoint", "FILE", CMD_TRAIN,                                                                       \
    "save parameters and optimizer state here (safetensors, written atomically) after each "                           \
    "epoch, at --steps and on Ctrl-C; never with non-finite weights or a non-finite validation loss (or, "      \
    "between epochs, loss on one probe batch): that save stops the run (exit 3) and the file keeps its previous "    \
    "contents. A text data set's vocabulary is saved inside it (metadata nnrt.vocab)")                                                                                 \
  X(CHECKPOINT_IN, "checkpoint", "FILE", CMD_EVAL | CMD_PREDICT | CMD_SAMPLE,                                          \
    "the .safetensors file with the parameters to use")                                                                \
  X(CHECKPOINT_VOCAB, "checkpoint", "FILE", CMD_DATA,                                                                  \
    "encode text with the vocabulary saved in this checkpoint (or, for older checkpoints, FILE.vocab.txt "        \
    "beside it), if present")                         \
  X(SAMPLES, "samples", "N", CMD_DATA, "decoded test samples to print (text data sets)")                               \
  X(CHECKPOINT_BEST, "checkpoint-best", "FILE", CMD_TRAIN,                                                             \
    "also save the checkpoint here (atomically) after each epoch that improves the metric early stopping "            \
    "monitors, else val_loss (loss without a validation set)")                                                         \
  X(PLOT, "plot", "FILE", CMD_TRAIN,                                                                                   \
    "draw loss and accuracy (MAE for regression) per epoch, training and validation, as an SVG file, "               \
    "rewritten after each epoch")                                                                                      \
  X(RESUME, "resume", NULL, CMD_TRAIN,                                                                                 \
    "continue exactly where the --checkpoint file stopped (epoch, step, optimizer state)")                             \
  X(LOG, "log", "FILE", CMD_TRAIN,                                                                                     \
    "write a CSV log: kind,epoch,step,loss,acc,val_loss,val_acc,seconds,lr, then for binary tasks "                  \
    "precision,recall,auc,val_precision,val_recall,val_auc, for regression mae,val_mae; kind 'step' per "           \
    "batch (step counts from 1 across epochs, seconds since start), 'epoch' per epoch (mean "                          \
    "train metrics, validation metrics, epoch seconds), 'test' at the end; on --resume the rows after the "         \
    "checkpoint's step (a killed run's) are dropped, atomically, and the run appends to the rest")                                                                                                        \
  X(STEPS, "steps", "N", CMD_TRAIN | CMD_TIMED,                                                                        \
    "train: stop after N steps in total (counting resumed ones; a cosine schedule still spans --epochs); bench: "    \
    "timed steps (default 200); profile: "                                                                             \
    "timed steps, run twice: without and with kernel timers (default 50)")                    \
  X(QUIET, "quiet", NULL, CMD_TRAIN, "no progress bar or epoch lines on stderr (errors and warnings still show)")      \
  X(INPUT, "input", "FILE", CMD_PREDICT,                                                                               \
    "samples to predict, one per row: a .npy file (C order, float or int), a .csv file (a header row, then "           \
    "numbers), an IDX file, or for a word model (fortunes:) text, one sample per line; '-' reads stdin (text or "      \
    "CSV)")                                                                                                            \
  X(PROBA, "proba", NULL, CMD_PREDICT,                                                                                 \
    "classifiers: after the class (and its name), the probability of each class in class order")                       \
  X(PROMPT, "prompt", "TEXT", CMD_SAMPLE,                                                                              \
    "the text to continue, printed first; its bytes are the token ids. Without it, the text starts as a new "          \
    "fortune (after an unprinted \"%\\n\")")                                                                           \
  X(TEMPERATURE, "temperature", "T", CMD_SAMPLE,                                                                       \
    "divides the logits before the softmax: below 1 safer text, above 1 wilder; 0 takes the most likely byte")         \
  X(LENGTH, "length", "N", CMD_SAMPLE, "bytes to generate after the prompt")                                           \
  X(SAMPLE_SEED, "seed", "N", CMD_SAMPLE,                                                                              \
    "seeds the sampling: the same seed, checkpoint and prompt give the same text")                                     \
  X(DEVICE, "device", "N", CMD_ALL | CMD_SAMPLE | CMD_PROFILE,                                                      \
    "the GPU to run on, by its CUDA device number (0 is the first; nvidia-smi lists them in the same order "         \
    "when CUDA_DEVICE_ORDER=PCI_BUS_ID)")                                                                             \
  X(JSON, "json", NULL, CMD_PROFILE, "print one JSON object instead of tables (docs/bench.md names its fields)")   \
  X(OVERWRITE, "overwrite", NULL, CMD_TRAIN,                                                                           \
    "start a new run even though the --checkpoint file exists, replacing it at the first save (without "            \
    "--resume or --overwrite an existing checkpoint is refused, exit 2, before anything is written)")                 \
  X(CHECKPOINT_EVERY, "checkpoint-every", "N", CMD_TRAIN,                                                              \
    "also save the checkpoint every N global steps (atomically, checked as every save is), not only after each "    \
    "epoch")                                                                                                           \
  X(CHECKPOINT_KEEP, "checkpoint-keep", "K", CMD_TRAIN,                                                                \
    "keep the K most recent checkpoints: before each save, FILE becomes FILE.1, FILE.1 FILE.2, ..., up to "          \
    "FILE.(K-1); FILE is always the newest and whole")                                                                 \
  X(ALLOW_NONFINITE, "allow-nonfinite", NULL, CMD_TRAIN | CMD_EVAL | CMD_PREDICT | CMD_DATA | CMD_TIMED,              \
    "accept NaN and infinite features (by default a data set holding one is refused, naming the file, sample and "   \
    "position); predict then prints 'nan' and the reason for such a row instead of a prediction")                  \
  X(CHECK_NUMERICS, "check-numerics", NULL, CMD_TRAIN | CMD_EVAL,                                                     \
    "after each kernel of every step, check each value it wrote for NaN and Inf; the first one found ends the run "  \
    "(exit 3) naming the value, its op and its .nn source line (slower; nnc build --no-fuse names every op's value)") \
  X(HELP, "help", NULL, CMD_ALL | CMD_DATA | CMD_SAMPLE | CMD_PROFILE, "show this help")

typedef enum {
#define X(id, name, arg, cmds, help) OPT_##id,
  OPTIONS(X)
#undef X
      OPT_COUNT
} OptId;

static const struct {
  const char *name, *arg;
  unsigned cmds;
  const char *help;
} opts[] = {
#define X(id, name, arg, cmds, help) {name, arg, cmds, help},
    OPTIONS(X)
#undef X
};

/* The commands an inference binary (nnc build --infer) lacks: it has no
 * train_step. */
enum { CMD_TRAINING_ONLY = CMD_TRAIN | CMD_PROFILE };

static const struct {
  const char *name;
  unsigned bit;
  const char *summary;
  const char *infer; /* the summary in an inference binary where it differs, else NULL */
} cmds[] = {
    {"train", CMD_TRAIN, "train the model, then report loss and accuracy on the test set", NULL},
    {"eval", CMD_EVAL, "loss, accuracy and a per-class report of a checkpoint on the test set",
     "loss, accuracy and a per-class report on the test set"},
    {"predict", CMD_PREDICT, "print one prediction per input row (the class, its name, --proba: probabilities)", NULL},
    {"bench", CMD_BENCH, "time train_step alone (ms per step, samples/s) on the training data",
     "time the forward pass (ms per step, samples/s) on the training data"},
    {"profile", CMD_PROFILE, "time train_step kernel by kernel: bytes, FLOPs, GB/s against a measured triad", NULL},
    {"data", CMD_DATA, "show the data set: sizes, classes, majority rate, decoded samples", NULL},
    {"sample", CMD_SAMPLE, "generate text with a character model, continuing a prompt", NULL},
};

/* The summary of command i in model m's binary; NULL when it lacks it. */
static const char *cmd_summary(size_t i, const NnrtModel *m) {
  if (!m->inference) return cmds[i].summary;
  return cmds[i].bit & CMD_TRAINING_ONLY ? NULL : cmds[i].infer ? cmds[i].infer : cmds[i].summary;
}

/* The text data sets, printed as is after the data command's options. */
static const char text_spec_help[] =
    "Text data sets are named by a spec instead of a directory:\n\n"
    "  fortunes:CAT,CAT[,...][?KEY=VALUE[&KEY=VALUE...]]\n"
    "      one sample per quote of Debian's fortunes (/usr/share/games/fortunes/CAT):\n"
    "      x = the ids of its first len words, padded with 0; y = the index of its\n"
    "      category in the spec (two categories: binary, more: multi-class)\n"
    "  fortunes-chars:CAT[,...][?KEY=VALUE...]\n"
    "      the quotes as bytes, cut into windows of len bytes; x = the bytes (ids\n"
    "      0-255), y = the byte after each (next-character targets)\n"
    "  CAT 'all' alone: every category file in dir (sorted by name)\n\n"
    "keys: len     words (or bytes) per sample [100; chars 128]\n"
    "      vocab   ids in the vocabulary, counting 0 = padding and 1 = unknown;\n"
    "              then the training split's words by descending count, ties\n"
    "              alphabetical [10000]\n"
    "      pad     post: padding after the words; pre: before them (words only;\n"
    "              a recurrent layer's last state then follows the last word) [post]\n"
    "      test    fraction of each category held out as the test set [0.2]\n"
    "      seed    seed of that split (not --seed, so eval sees the same split) [0]\n"
    "      dir     where the category files are [/usr/share/games/fortunes]\n\n"
    "Words are runs of ASCII letters, digits and apostrophes, lowercased. train\n"
    "--checkpoint F saves the vocabulary inside F (metadata nnrt.vocab: one word\n"
    "per line, in id order), written with the weights in one atomic rename; eval,\n"
    "predict, --resume and data --checkpoint F use it (an older checkpoint's\n"
    "F.vocab.txt beside it when F has none; one that differs from F's is refused).\n"
    "Example: data --data 'fortunes:computers,science?len=50&vocab=5000'\n";

static const char *task_name(int32_t task) {
  return task == NNRT_TASK_CLASSIFY ? "classification"
         : task == NNRT_TASK_BINARY ? "binary classification"
         : task == NNRT_TASK_BINARY_LOGITS ? "binary classification (from logits)"
                                    : "regression";
}

static const char *opt_name(int32_t opt) {
  return opt == NNRT_OPT_SGD ? "sgd" : opt == NNRT_OPT_ADAM ? "adam" : opt == NNRT_OPT_ADAMW ? "adamw" : "rmsprop";
}

/* The default shown in --help, "" for none. */
static void default_str(OptId id, const NnrtModel *m, char *buf, size_t size) {
  char dir[RT_PATH_MAX];
  buf[0] = '\0';
  switch (id) {
  case OPT_EPOCHS:
    snprintf(buf, size, "%d", m->epochs);
    break;
  case OPT_BATCH:
    snprintf(buf, size, "%d", m->batch);
    break;
  case OPT_LR:
    snprintf(buf, size, "%g (%s)", m->lr, opt_name(m->optimizer));
    break;
  case OPT_THREADS:
    snprintf(buf, size, "%d, the online cores", rt_online_cores());
    break;
  case OPT_SEED:
    snprintf(buf, size, "%" PRIu64, m->seed);
    break;
  case OPT_DATA:
  case OPT_DATA_PREDICT:
    if (rt_data_default_dir(m->dataset, dir, sizeof dir)) snprintf(buf, size, "%s", dir);
    break;
  case OPT_VAL_SPLIT:
    snprintf(buf, size, "0.1");
    break;
  case OPT_SCHEDULE:
    snprintf(buf, size, "%s", m->schedule ? m->schedule : "none");
    break;
  case OPT_EARLY_STOP:
    snprintf(buf, size, "%s", m->early_stop ? m->early_stop : "none");
    break;
  case OPT_CHECKPOINT_IN:
  case OPT_INPUT:
    snprintf(buf, size, "required");
    break;
  case OPT_DEVICE:
    snprintf(buf, size, "0");
    break;
  case OPT_TEMPERATURE:
    snprintf(buf, size, "1");
    break;
  case OPT_LENGTH:
    snprintf(buf, size, "200");
    break;
  case OPT_SAMPLE_SEED:
    snprintf(buf, size, "%" PRIu64, m->seed);
    break;
  default:
    break;
  }
}

/* Words wrapped at width; '\x01' is a space that does not break. */
static void print_wrapped(FILE *f, const char *text, int indent, int width) {
  int col = indent;
  const char *w = text;
  while (*w) {
    const char *end = strchr(w, ' ');
    int len = end ? (int)(end - w) : (int)strlen(w);
    if (col > indent && col + 1 + len > width) {
      fprintf(f, "\n%*s", indent, "");
      col = indent;
    } else if (col > indent) {
      fputc(' ', f);
      col++;
    }
    for (int i = 0; i < len; i++)
      fputc(w[i] == '\x01' ? ' ' : w[i], f);
    col += len;
    w += len;
    while (*w == ' ')
      w++;
  }
  fputc('\n', f);
}

static void usage_main(FILE *f, const char *prog, const NnrtModel *m) {
  fprintf(f, "usage: %s <command> [options]\n       %s --help | --version\n\n", prog, prog);
  char about[RT_PATH_MAX + 512], dir[RT_PATH_MAX];
  if (m->inference)
    snprintf(about, sizeof about,
             "The %s model '%s', compiled by nnc build --infer into a standalone inference binary: the forward pass "
             "only, %s. Defaults: batch %d, data set %s (%s).",
             task_name(m->task), m->name,
             m->embedded ? "with its trained weights built in" : "without weights (give --checkpoint FILE)", m->batch,
             m->dataset ? m->dataset : "none",
             rt_data_default_dir(m->dataset, dir, sizeof dir) ? dir : "give --data DIR");
  else
    snprintf(about, sizeof about,
           "The %s model '%s', compiled by nnc into a standalone training binary. Defaults: %d epochs, batch %d, %s "
           "with learning rate %g, data set %s (%s).",
           task_name(m->task), m->name, m->epochs, m->batch, opt_name(m->optimizer), m->lr,
           m->dataset ? m->dataset : "none",
           rt_data_default_dir(m->dataset, dir, sizeof dir) ? dir : "give --data DIR");
  print_wrapped(f, about, 0, 79);
  fputc('\n', f);
  fprintf(f, "commands:\n");
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (cmd_summary(i, m)) fprintf(f, "  %-9s %s\n", cmds[i].name, cmd_summary(i, m));
  fprintf(f, "\nRun '%s <command> --help' for the options of a command.\n", prog);
  if (m->inference) {
    fprintf(f, "\nexit status: 0 success, 1 failure (I/O, memory, model/runtime mismatch),\n2 bad command line or "
               "input file.\n");
    return;
  }
  fprintf(
      f,
      "\nexit status: 0 success, 1 failure (I/O, memory, model/runtime mismatch),\n2 bad command line or input file, 3 "
      "the loss (training, validation or test)\nor the weights to save became NaN or Inf (early stopping is a success),\n130 interrupted by Ctrl-C (143 by SIGTERM) after saving the checkpoint.\n");
}

/* Whether option id is one of command cmd's in m's binary: an inference
 * binary's bench runs no optimizer, so it takes no learning rate; only a
 * CUDA binary has a device to choose. */
static int opt_applies(int id, unsigned cmd, const NnrtModel *m) {
  return (opts[id].cmds & cmd) && !(m->inference && id == OPT_LR) && !(!m->cuda && id == OPT_DEVICE);
}

static void usage_cmd(FILE *f, const char *prog, const NnrtModel *m, unsigned cmd) {
  const char *name = "", *summary = "";
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (cmds[i].bit == cmd) name = cmds[i].name, summary = cmd_summary(i, m);
  fprintf(f, "usage: %s %s [options]\n\n%s.\n\noptions:\n", prog, name, summary);
  for (int i = 0; i < OPT_COUNT; i++) {
    if (!opt_applies(i, cmd, m)) continue;
    char head[64], def[RT_PATH_MAX + 64], text[2 * RT_PATH_MAX];
    snprintf(head, sizeof head, "--%s%s%s", opts[i].name, opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
    default_str((OptId)i, m, def, sizeof def);
    for (char *c = def; *c; c++)
      if (*c == ' ') *c = '\x01'; /* keep "[default: 0.001 (adam)]" on one line */
    if (!def[0])
      snprintf(text, sizeof text, "%s", opts[i].help);
    else if (strcmp(def, "required") == 0)
      snprintf(text, sizeof text, "%s [required]", opts[i].help);
    else
      snprintf(text, sizeof text, "%s [default:\x01%s]", opts[i].help, def);
    fprintf(f, "  %-18s", head);
    if (strlen(head) > 18) fprintf(f, "\n%20s", "");
    print_wrapped(f, text, 20, 79);
  }
  if (cmd == CMD_DATA) fprintf(f, "\n%s", text_spec_help);
  if (cmd == CMD_TRAIN)
    fprintf(f, "\nProgress goes to stderr (a bar on a terminal, one line per epoch otherwise);\nthe test-set result "
               "goes to stdout.\n");
}

static int usage_error(const char *prog, const char *cmd, const char *fmt, ...) RT_PRINTF(3, 4);

/* "prog: error: ..." plus a pointer to the help; returns the exit code. */
static int usage_error(const char *prog, const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: error: ", prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry '%s%s%s --help'.\n", prog, cmd ? " " : "", cmd ? cmd : "");
  return RT_EXIT_USAGE;
}

/* Parses options into o; returns -1 to continue, else an exit code. */
static int parse(int argc, char **argv, const char *prog, const char *cmdname, unsigned cmd, const NnrtModel *m,
                 RtOptions *o) {
  int seen_ckpt = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0) a = "--help";
    if (strncmp(a, "--", 2) != 0) return usage_error(prog, cmdname, "unexpected argument '%s'", a);
    const char *eq = strchr(a + 2, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    int id = -1, other = -1; /* an option of this command / of another only */
    for (int k = 0; k < OPT_COUNT; k++) {
      if (strlen(opts[k].name) != len || strncmp(opts[k].name, a + 2, len) != 0) continue;
      if (opt_applies(k, cmd, m))
        id = k;
      else
        other = k;
    }
    if (id < 0 && other == OPT_DEVICE && (opts[other].cmds & cmd))
      return usage_error(prog, cmdname,
                         "option '--device' chooses a GPU, but this binary runs on the CPU (build the model with nnc "
                         "build --target=cuda for a GPU)");
    if (id < 0 && other >= 0)
      return usage_error(prog, cmdname, "option '--%s' is not an option of %s", opts[other].name, cmdname);
    if (id < 0) return usage_error(prog, cmdname, "unknown option '%s'", a);
    const char *v = NULL;
    if (opts[id].arg) {
      if (eq)
        v = eq + 1;
      else if (i + 1 < argc)
        v = argv[++i];
      else
        return usage_error(prog, cmdname, "option '--%s' needs a value", opts[id].name);
    } else if (eq) {
      return usage_error(prog, cmdname, "option '--%s' takes no value", opts[id].name);
    }
    int64_t iv = 0;
    double dv = 0;
    int bad = 0;
    const char *want = "a positive integer";
    switch ((OptId)id) {
    case OPT_EPOCHS:
      bad = rt_parse_i64(v, 1, INT32_MAX, &o->epochs);
      break;
    case OPT_BATCH:
      bad = rt_parse_i64(v, 1, INT32_MAX, &o->batch);
      break;
    case OPT_STEPS:
      bad = rt_parse_i64(v, 1, INT64_MAX, &o->steps);
      break;
    case OPT_THREADS:
      want = "an integer from 1 to 1024";
      bad = rt_parse_i64(v, 1, 1024, &iv);
      o->threads = (int)iv;
      break;
    case OPT_LR:
      want = "a positive number";
      bad = rt_parse_f64(v, &o->lr) || !(o->lr > 0);
      break;
    case OPT_VAL_SPLIT:
      want = "a number in [0, 1)";
      bad = rt_parse_f64(v, &dv) || dv < 0 || dv >= 1;
      o->val_split = dv;
      o->val_split_given = 1;
      break;
    case OPT_VALIDATION_DATA:
      o->val_dir = v;
      break;
    case OPT_SCHEDULE:
    case OPT_EARLY_STOP: {
      RtSpec spec;
      RtError err = {0};
      if (rt_spec_parse(id == OPT_SCHEDULE ? "--schedule" : "--early-stop", v, id == OPT_EARLY_STOP, &spec, &err))
        return usage_error(prog, cmdname, "%s", err.msg);
      *(id == OPT_SCHEDULE ? &o->schedule : &o->early_stop) = v;
      break;
    }
    case OPT_CHECKPOINT_BEST:
      o->best_path = v;
      break;
    case OPT_PLOT:
      o->plot_path = v;
      break;
    case OPT_SEED:
    case OPT_SAMPLE_SEED:
      want = "an unsigned integer";
      bad = rt_parse_u64(v, &o->seed);
      break;
    case OPT_DATA:
    case OPT_DATA_PREDICT:
      o->data_dir = v;
      break;
    case OPT_LABEL_COLUMN:
      o->label_column = v;
      break;
    case OPT_PROBA:
      o->proba = 1;
      break;
    case OPT_ALLOW_NONFINITE:
      o->allow_nonfinite = 1;
      break;
    case OPT_INIT:
      o->init_path = v;
      break;
    case OPT_SAMPLES:
      want = "an integer from 0 to 1000";
      bad = rt_parse_i64(v, 0, 1000, &o->samples);
      break;
    case OPT_CHECKPOINT:
    case OPT_CHECKPOINT_IN:
    case OPT_CHECKPOINT_VOCAB:
      o->ckpt_path = v;
      seen_ckpt = 1;
      break;
    case OPT_LOG:
      o->log_path = v;
      break;
    case OPT_INPUT:
      o->input_path = v;
      break;
    case OPT_PROMPT:
      o->prompt = v;
      break;
    case OPT_TEMPERATURE:
      want = "a number from 0 to 100";
      bad = rt_parse_f64(v, &o->temperature) || !(o->temperature >= 0 && o->temperature <= 100);
      break;
    case OPT_LENGTH:
      want = "an integer from 0 to 1000000";
      bad = rt_parse_i64(v, 0, 1000000, &o->length);
      break;
    case OPT_RESUME:
      o->resume = 1;
      break;
    case OPT_OVERWRITE:
      o->overwrite = 1;
      break;
    case OPT_CHECKPOINT_EVERY:
      bad = rt_parse_i64(v, 1, INT64_MAX, &o->ckpt_every);
      break;
    case OPT_CHECKPOINT_KEEP:
      want = "an integer from 1 to 1000";
      bad = rt_parse_i64(v, 1, 1000, &o->ckpt_keep);
      break;
    case OPT_QUIET:
      o->quiet = 1;
      break;
    case OPT_JSON:
      o->json = 1;
      break;
    case OPT_CHECK_NUMERICS:
      o->check_numerics = 1;
      break;
    case OPT_DEVICE:
      want = "a device number from 0 to 1023";
      bad = rt_parse_i64(v, 0, 1023, &iv);
      rt_device_select((int)iv);
      break;
    case OPT_HELP:
      usage_cmd(stdout, prog, m, cmd);
      return RT_EXIT_OK;
    case OPT_COUNT:
      break;
    }
    if (bad) {
      fprintf(stderr, "%s: error: --%s: expected %s, got '%s'\nTry '%s %s --help'.\n", prog, opts[id].name, want, v,
              prog, cmdname);
      return RT_EXIT_USAGE;
    }
  }
  if ((cmd & (CMD_EVAL | CMD_PREDICT | CMD_SAMPLE)) && !seen_ckpt && !m->embedded)
    return usage_error(prog, cmdname,
                       m->inference ? "%s needs --checkpoint FILE: this inference binary has no embedded weights (it "
                                      "was built without nnc build --checkpoint)"
                                    : "%s needs --checkpoint FILE",
                       cmdname);
  if (cmd == CMD_PREDICT && !o->input_path) return usage_error(prog, cmdname, "predict needs --input FILE");
  if (o->resume && !o->ckpt_path) return usage_error(prog, cmdname, "--resume needs --checkpoint FILE to resume from");
  if (o->resume && o->overwrite)
    return usage_error(prog, cmdname, "--resume continues the checkpoint and --overwrite replaces it; use one");
  if ((o->ckpt_every || o->ckpt_keep) && !o->ckpt_path)
    return usage_error(prog, cmdname, "--%s needs --checkpoint FILE", o->ckpt_every ? "checkpoint-every" : "checkpoint-keep");
  if (o->resume && o->init_path)
    return usage_error(prog, cmdname, "--resume and --init both set the parameters; use one");
  if (o->resume && !rt_file_exists(o->ckpt_path)) {
    fprintf(stderr, "%s: error: --resume: %s does not exist\n", prog, o->ckpt_path);
    return RT_EXIT_USAGE;
  }
  return -1;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

int main(int argc, char **argv) {
  const NnrtModel *m = &nnrt_model;
  const char *prog = argc > 0 ? base_name(argv[0]) : m->name;
  if (argc < 2) {
    usage_main(stderr, prog, m);
    return RT_EXIT_USAGE;
  }
  const char *c = argv[1];
  if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0 || strcmp(c, "help") == 0) {
    for (size_t i = 0; argc > 2 && i < sizeof cmds / sizeof cmds[0]; i++)
      if (strcmp(argv[2], cmds[i].name) == 0 && cmd_summary(i, m)) {
        usage_cmd(stdout, prog, m, cmds[i].bit);
        return RT_EXIT_OK;
      }
    usage_main(stdout, prog, m);
    return RT_EXIT_OK;
  }
  if (strcmp(c, "--version") == 0) {
    printf("%s: model %s, nnrt %s (ABI %d), %s\n", prog, m->name, NNRT_VERSION, NNRT_ABI_VERSION, rt_gemm_engine());
    return RT_EXIT_OK;
  }
  unsigned cmd = 0;
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (strcmp(c, cmds[i].name) == 0 && !cmd_summary(i, m)) {
      fprintf(stderr, "%s: error: this is an inference binary (nnc build --infer): it has no %s command\n", prog, c);
      return RT_EXIT_USAGE;
    } else if (strcmp(c, cmds[i].name) == 0) {
      cmd = cmds[i].bit;
    }
  if (!cmd) {
    char list[256] = ""; /* "train, eval, ... and sample": the commands this binary has */
    size_t n = 0, at = 0, k = 0;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
      n += cmd_summary(i, m) != NULL;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
      if (cmd_summary(i, m) && at < sizeof list)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", k++ == 0 ? "" : k == n ? " and " : ", ",
                               cmds[i].name);
    return usage_error(prog, NULL, "unknown command '%s'; the commands are %s", c, list);
  }

  RtOptions o = {0};
  o.prog = prog;
  o.epochs = m->epochs > 0 ? m->epochs : 1;
  o.batch = m->batch > 0 ? m->batch : 32;
  o.lr = m->lr > 0 ? m->lr : 1e-3;
  o.seed = m->seed;
  o.val_split = 0.1;
  o.samples = 5;
  o.temperature = 1;
  o.length = 200;
  int rc = parse(argc, argv, prog, c, cmd, m, &o);
  if (rc >= 0) return rc;

  /* A text data set's vocabulary lives in the checkpoint: a fresh train
   * builds it (and saves it with the weights), --resume, eval, predict and
   * data read it. */
  if (o.ckpt_path && (cmd != CMD_TRAIN || o.resume)) rt_text_set_vocab_checkpoint(o.ckpt_path);
  rt_csv_set_label_column(o.label_column);
  rt_data_allow_nonfinite(o.allow_nonfinite);
  if (cmd == CMD_DATA) {
    RtError e = {0};
    char dir[RT_PATH_MAX];
    const char *src = rt_data_dir(o.data_dir, m->dataset, dir, sizeof dir, &e);
    if (!src || rt_data_inspect(src, (int)o.samples, stdout, &e)) {
      fprintf(stderr, "%s: error: %s\n", prog, e.msg);
      return e.code;
    }
    return RT_EXIT_OK;
  }

  if (o.check_numerics) rt_numerics_request(prog);
  RtError e = {0};
  if (rt_pool_start(o.threads, &e)) {
    fprintf(stderr, "%s: error: %s\n", prog, e.msg);
    return e.code;
  }
  rc = cmd == CMD_TRAIN    ? rt_train(m, &o, &e)
       : cmd == CMD_EVAL   ? rt_eval(m, &o, &e)
       : cmd == CMD_BENCH  ? rt_bench(m, &o, &e)
       : cmd == CMD_PROFILE ? rt_profile(m, &o, &e)
       : cmd == CMD_SAMPLE ? rt_sample(m, &o, &e)
                           : rt_predict(m, &o, &e);
  rt_pool_stop();
  if (rc != RT_EXIT_OK && rc != RT_EXIT_SIGINT && rc != RT_EXIT_SIGTERM)
    fprintf(stderr, "%s: error: %s\n", prog, e.msg);
  return rc;
}
