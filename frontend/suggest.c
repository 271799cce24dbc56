/* suggest.c — "did you mean ...?": the one place that decides which name a
 * wrong one most likely meant, for every list of names the frontend checks
 * against (functions, arguments, initialisers, optimizers, settings, names
 * in scope).
 *
 * Two sources, in order:
 *   1. Keras's spellings. Many users come from Keras; a name Keras uses for
 *      something nnc has under another name (return_sequences, kernel_size,
 *      learning_rate, LayerNormalization) gets nnc's name, but only where
 *      that name is one of the candidates, so kernel_size is answered with
 *      kernel in a conv2d call and with nothing elsewhere. A Keras name nnc
 *      does not have (msle, hinge, selu) gets no suggestion at all: the
 *      closest name by spelling would be a different thing (msle is not mse).
 *   2. Typos: the candidate fewest edits away, within a limit. A change of
 *      case alone is always a typo (Dense, LSTM). In names of up to four
 *      letters a substituted letter costs two edits, so only a swap, a
 *      missing or an extra letter is one: short names are mostly
 *      abbreviations, and one other letter makes another word (mae, mse,
 *      max; gelu, relu). */
#include <string.h>
#include <strings.h>

#include "ast.h"

/* Keras's name → nnc's (NULL: Keras has it, nnc does not). Compared
 * without case, so Keras's class names (MaxPooling2D) and function names
 * (max_pooling2d) both match. Names that differ only in case (Dense, LSTM)
 * need no row. */
static const struct {
  const char *keras, *nnc;
} keras_names[] = {
    /* layers */
    {"MaxPooling2D", "maxpool"},
    {"MaxPool2D", "maxpool"},
    {"AveragePooling2D", "avgpool"},
    {"AvgPool2D", "avgpool"},
    {"GlobalAveragePooling1D", "global_avgpool"},
    {"GlobalAveragePooling2D", "global_avgpool"},
    {"GlobalAvgPool2D", "global_avgpool"},
    {"GlobalMaxPooling1D", "global_maxpool"},
    {"GlobalMaxPooling2D", "global_maxpool"},
    {"GlobalMaxPool2D", "global_maxpool"},
    {"LayerNormalization", "layer_norm"},
    {"BatchNormalization", "batch_norm"},
    {"SimpleRNN", "simple_rnn"},
    {"MultiHeadAttention", "multihead_attention"},
    {"LeakyReLU", "leaky_relu"},
    {"Concatenate", "concat"},
    {"Permute", "transpose"},
    {"swish", "silu"},
    /* losses */
    {"sparse_categorical_crossentropy", "cross_entropy"},
    {"SparseCategoricalCrossentropy", "cross_entropy"},
    {"categorical_crossentropy", "cross_entropy"},
    {"CategoricalCrossentropy", "cross_entropy"},
    {"binary_crossentropy", "binary_cross_entropy"},
    {"BinaryCrossentropy", "binary_cross_entropy"},
    {"mean_squared_error", "mse"},
    {"MeanSquaredError", "mse"},
    {"mean_absolute_error", "mae"},
    {"MeanAbsoluteError", "mae"},
    {"mae", "mae"},
    {"huber", "huber"},
    {"huber_loss", "huber"},
    {"msle", NULL},
    {"mean_squared_logarithmic_error", NULL},
    {"mape", NULL},
    {"mean_absolute_percentage_error", NULL},
    {"hinge", NULL},
    {"squared_hinge", NULL},
    {"kld", NULL},
    {"kl_divergence", NULL},
    {"logcosh", NULL},
    {"poisson", NULL},
    {"cosine_similarity", NULL},
    /* activations nnc does not have */
    {"selu", NULL},
    {"relu6", NULL},
    {"hard_sigmoid", NULL},
    {"softsign", NULL},
    {"mish", NULL},
    /* arguments */
    {"return_sequences", "sequences"},
    {"go_backwards", "reverse"},
    {"kernel_size", "kernel"},
    {"strides", "stride"},
    {"pool_size", "size"},
    {"input_dim", "vocab"},
    {"output_dim", "dim"},
    {"num_heads", "heads"},
    {"kernel_initializer", "init"},
    {"bias_initializer", "bias_init"},
    {"recurrent_initializer", "recurrent_init"},
    {"embeddings_initializer", "init"},
    {"learning_rate", "lr"},
    {"epsilon", "eps"},
    {"beta_1", "beta1"},
    {"beta_2", "beta2"},
    {"batch_size", "batch"},
    /* initialisers */
    {"GlorotUniform", "glorot_uniform"},
    {"HeNormal", "he_normal"},
    {"RandomNormal", "normal"},
    {"random_normal", "normal"},
    {"RandomUniform", "uniform"},
    {"random_uniform", "uniform"},
};
#define NKERAS ((int)(sizeof keras_names / sizeof *keras_names))

/* Edit distance counting a swap of neighbours as one edit (optimal string
 * alignment): "axsi" is one typo away from "axis". A substitution costs
 * `sub`. */
static int edit_distance(const char *a, const char *b, int sub) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64) return 1000;
  int dist[65][65];
  for (size_t i = 0; i <= la; i++) dist[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++) dist[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      int best = dist[i - 1][j - 1] + (a[i - 1] != b[j - 1] ? sub : 0);
      if (dist[i - 1][j] + 1 < best) best = dist[i - 1][j] + 1;
      if (dist[i][j - 1] + 1 < best) best = dist[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && dist[i - 2][j - 2] + 1 < best)
        best = dist[i - 2][j - 2] + 1;
      dist[i][j] = best;
    }
  return dist[la][lb];
}

static const char *find_cand(const char *name, const char *const *cands, int ncands, bool any_case) {
  for (int i = 0; i < ncands; i++)
    if (cands[i] && (any_case ? !strcasecmp(cands[i], name) : !strcmp(cands[i], name))) return cands[i];
  return NULL;
}

const char *fe_suggest(const char *name, const char *const *cands, int ncands) {
  for (int k = 0; k < NKERAS; k++)
    if (!strcasecmp(keras_names[k].keras, name))
      return keras_names[k].nnc ? find_cand(keras_names[k].nnc, cands, ncands, false) : NULL;
  const char *same = find_cand(name, cands, ncands, true);
  if (same && strcmp(same, name)) return same;
  /* One edit for short names, two for longer ones, none for one letter
   * (every other one-letter name is one edit away): beyond that the
   * "suggestion" is more often noise than help. */
  size_t len = strlen(name);
  int limit = len <= 1 ? 0 : len <= 4 ? 1 : 2, best = limit + 1, sub = len <= 4 ? 2 : 1;
  const char *pick = NULL;
  for (int i = 0; i < ncands; i++) {
    if (!cands[i] || !strcmp(cands[i], name)) continue;
    int dist = edit_distance(name, cands[i], sub);
    if (dist < best) best = dist, pick = cands[i];
  }
  return pick;
}
