/* rt_data.h — libnnrt's data loading, split off nnrt.h (which includes it,
 * so including nnrt.h brings it): arrays from .npy and IDX files, the data
 * sets of a directory, CSV data sets, fortune files and vocabularies, and
 * the text data sets named by a spec. Conventions as nnrt.h's: 0 on
 * success, -1 after filling an RtError. */
#ifndef RT_DATA_H
#define RT_DATA_H
#include "nnrt_abi.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct RtError RtError; /* nnrt.h, rt_util.c */

/*
 * rt_npy.c and rt_data.c — arrays and data sets.
 */
#define RT_PATH_MAX 4096

typedef struct RtArray {
  int32_t dtype; /* NNRT_F32 or NNRT_I32 as loaded; rt_array_convert makes any */
  int32_t rank;
  int64_t dims[NNRT_MAX_RANK];
  int64_t numel;
  int64_t shape_offset; /* file offsets of the shape and of element 0, */
  int64_t data_offset;  /* and bytes per element on disk: for messages */
  int32_t elem_bytes;
  void *data;             /* rt_alloc'd */
  /* > 0: pixels kept compact, dtype U8 standing for F32 values data[i] *
   * scale (IDX images for a float input: a quarter of the memory; a batch's
   * rows are widened as they are staged, rt_stage_batch). */
  float scale;
  int64_t *line;          /* a text file's (CSV): the line of each sample, rt_alloc'd; else NULL */
  char path[RT_PATH_MAX]; /* where it came from, for messages */
} RtArray;

/* A zeroed array of dtype, rank 1 [d0] or 2 [d0, d1], named path; with
 * lines, a->line for a text file's line numbers. */
int rt_array_alloc(RtArray *a, const char *path, int32_t dtype, int rank, int64_t d0, int64_t d1, int lines,
                   RtError *e);
/* Where element i of a is, for messages: "path:LINE" (a text file: the line
 * of its sample) or "path: offset N" (a binary file); i < 0: its shape
 * ("path: offset N" of the header, or "path"). */
const char *rt_array_where(const RtArray *a, int64_t i, char *buf, size_t size);

void rt_array_free(RtArray *a);
/* Converts in place: I32 -> F32 exactly; F32 -> I32 only for integral values
 * (else an error naming the file and element). */
int rt_array_convert(RtArray *a, int32_t dtype, RtError *e);
/* Pixels stored as bytes widened to F32: dst[i] = src[i] * scale (IDX
 * images: scale 1/255), the one definition every loader and the batch
 * staging use, so that a pixel is the same float however it is read. */
void rt_widen_pixels(float *dst, const uint8_t *src, int64_t n, float scale);

/* .npy v1/v2/v3, C order; '<f4' '<f8' -> F32, '<i4' '<i8' '|u1' '|i1' -> I32. */
int rt_npy_load(const char *path, RtArray *out, RtError *e);
int rt_npy_save(const char *path, const RtArray *a, RtError *e);

/* IDX (LeCun's MNIST format), gzip or plain (gzread reads both). Unsigned
 * byte data as RT_IDX_INT: I32; RT_IDX_F32: F32 in [0, 1] (byte / 255);
 * RT_IDX_PIXELS: the same values kept as U8 with scale 1/255 (RtArray.scale). */
enum { RT_IDX_INT = 0, RT_IDX_F32 = 1, RT_IDX_PIXELS = 2 };
int rt_idx_load(const char *path, int as, RtArray *out, RtError *e);

typedef struct RtDataset {
  RtArray x; /* features, dims[0] = samples */
  RtArray y; /* labels, dims[0] = samples (absent for predict) */
} RtDataset;

enum { RT_SPLIT_TRAIN = 0, RT_SPLIT_TEST = 1 };
/* rt_data_load's dtype for "as the file stores it" (the data command). */
#define RT_DTYPE_AS_STORED (-1)
/* rt_data_load's x dtype for "F32 values, as compact as the file allows":
 * IDX images stay bytes with a scale (RtArray.scale), anything else is F32.
 * For a training or evaluation session, whose batches rt_stage_batch
 * stages: Fashion-MNIST's 60000 images take 47 MB instead of 188. */
#define RT_DTYPE_F32_COMPACT (-2)

/* The directory a named data set is installed in, or NULL. */
const char *rt_data_default_dir(const char *dataset, char *buf, size_t size);
/* `given` (--data) if set, else the model's data set's default directory. */
const char *rt_data_dir(const char *given, const char *dataset, char *buf, size_t size, RtError *e);
/* Loads one split from dir: train_x.npy/train_y.npy (or test_*) if present,
 * train.csv (test.csv), else the IDX files of (Fashion-)MNIST; or a text or
 * CSV spec. Converts x and y to the dtypes of the model inputs they feed
 * (RT_DTYPE_AS_STORED: leaves them as loaded). */
int rt_data_load(const char *dir, int split, int32_t x_dtype, int32_t y_dtype, RtDataset *d, RtError *e);
void rt_data_free(RtDataset *d);

/*
 * rt_csv.c — CSV data sets: a header row, numeric cells, a label column.
 *   FILE.csv[?label=NAME&test=F&seed=S]   one file split into train and test
 *   DIR with train.csv and test.csv        (rt_data_load)
 */
typedef struct RtCsvSpec {
  char path[RT_PATH_MAX];
  char label[256]; /* "" when none is given */
  double test;     /* fraction held out as the test split [0.2] */
  uint64_t seed;   /* of that split [0] */
} RtCsvSpec;
/* Class names, id order. */
typedef struct RtNames {
  int32_t n;
  char **name; /* malloc'd */
} RtNames;
void rt_names_free(RtNames *nm);
int rt_csv_is_spec(const char *s); /* a path ending in .csv, maybe with ?keys */
/* --label-column; process-wide like the vocabulary file, since
 * rt_data_load has no room for it. Wins over a spec's label=. */
void rt_csv_set_label_column(const char *name);
/* The label column a spec (or --label-column) names; NULL if none. */
const char *rt_csv_label_column(const char *spec);
int rt_csv_parse_spec(const char *s, RtCsvSpec *sp, RtError *e);
/* Reads a CSV file ("-": stdin): x f32 [rows, features] from every column
 * but `label`; y [rows] from the label column, converted to y_dtype (an
 * integer dtype demands integer cells; RT_DTYPE_AS_STORED: i32 if every
 * label is an integer, else f32). A label column with any cell that is not
 * a number holds class names: y i32 ids in the strcmp order of the names,
 * which `classes` (may be NULL) receives (n = 0 for numeric labels); a
 * float y_dtype (regression) refuses them. y NULL: no labels wanted, and a
 * label column, if named and present, is skipped. Errors are
 * path:line:col. */
int rt_csv_read(const char *path, const char *label, int32_t y_dtype, RtArray *x, RtArray *y, RtNames *classes,
                RtError *e);
/* The class names of a CSV data set (a spec, or a directory: its
 * train.csv) whose labels are names; n = 0 when they are numbers. */
int rt_csv_class_names(const char *src, RtNames *names, RtError *e);
int rt_csv_is_dir(const char *dir); /* a directory holding train.csv */
/* Split RT_SPLIT_* of a spec's file (see rt_csv.c for the split), or of a
 * directory's train.csv and test.csv (class names: train.csv's ids). */
int rt_csv_load(const char *src, int split, int32_t y_dtype, RtDataset *d, RtError *e);
/* A whole file ("-": stdin), NUL-terminated, malloc'd. */
int rt_read_whole(const char *path, char **buf, int64_t *size, RtError *e);

/*
 * rt_text.c — fortune files, a word tokenizer, vocabularies.
 */
/* Quotes of one or more files in one buffer; quote i is buf[start[i]..+len[i]). */
typedef struct RtQuotes {
  char *buf;
  int64_t size, bufcap;
  int64_t n, cap;
  int64_t *start, *len;
  int32_t *label; /* the label the file was read with */
} RtQuotes;

/* Appends the quotes of the fortune file at path, each with `label`. Errors
 * name the file and byte offset; on error q keeps the earlier files' quotes. */
int rt_fortune_read(const char *path, int32_t label, RtQuotes *q, RtError *e);
void rt_quotes_free(RtQuotes *q);

#define RT_WORD_MAX 64           /* longer words are cut to RT_WORD_MAX-1 bytes */
int rt_text_is_word_char(int c); /* ASCII letter, digit or apostrophe */
/* The next word of s[0..n) from *pos, lowercased into word; its length, 0
 * at the end. Anything but letters, digits and apostrophes separates. */
size_t rt_text_next_word(const char *s, size_t n, size_t *pos, char *word, size_t wsize);

/* Id 0 pads, id 1 stands for unknown words, then words by descending count,
 * ties in strcmp order. */
enum { RT_ID_PAD = 0, RT_ID_UNK = 1 };
#define RT_VOCAB_PAD "<pad>"
#define RT_VOCAB_UNK "<unk>"
typedef struct RtVocab {
  int32_t n, cap;
  char **word;    /* n words, id order */
  int64_t *count; /* occurrences in the corpus it was built from (0 if loaded) */
  int32_t *table; /* hash table of indices into word, -1 empty */
  int64_t tcap;
} RtVocab;

/* The vocabulary (at most max ids, max >= 2) of quotes idx[0..n) (idx NULL:
 * 0..n). */
int rt_vocab_build(RtVocab *v, const RtQuotes *q, const int32_t *idx, int64_t n, int64_t max, RtError *e);
int32_t rt_vocab_id(const RtVocab *v, const char *word); /* RT_ID_UNK if absent */
/* The first len word ids of s[0..n), then RT_ID_PAD; returns the words kept. */
int64_t rt_text_encode(const RtVocab *v, const char *s, size_t n, int64_t len, int32_t *out);
/* The vocabulary as text: one word per line (each ended by '\n') in id
 * order; malloc'd, *n its length. */
char *rt_vocab_text(const RtVocab *v, size_t *n, RtError *e);
/* Reads that text back, strictly (<pad>, <unk>, then distinct words);
 * messages say "where:LINE: ...". */
int rt_vocab_parse(RtVocab *v, const char *text, size_t n, const char *where, RtError *e);
/* The same text as a file, written atomically / read. */
int rt_vocab_save(const RtVocab *v, const char *path, RtError *e);
int rt_vocab_load(RtVocab *v, const char *path, RtError *e);
void rt_vocab_free(RtVocab *v);

/*
 * rt_textdata.c — text data sets named by a spec instead of a directory:
 *   fortunes:CAT[,CAT...][?KEY=VALUE[&KEY=VALUE...]]        words, label = CAT index
 *   fortunes-chars:CAT[,CAT...][?...]                       bytes, next-byte targets
 * keys: len (words or bytes per sample), vocab (ids incl. pad and unk; words
 * only), pad (pre or post: where padding goes; words only), test (fraction held out per category), seed (of the split),
 * dir (where the category files are). See RT_TEXT_SPEC_HELP.
 */
#define RT_TEXT_MAX_CATS 64
#define RT_FORTUNES_DIR "/usr/share/games/fortunes"
typedef struct RtTextSpec {
  int chars; /* fortunes-chars */
  int ncat;
  char cat[RT_TEXT_MAX_CATS][64];
  int64_t len, vocab;
  int pad_pre; /* pad=pre: padding before the words (for a recurrent layer's last state) */
  double test;
  uint64_t seed;
  char dir[RT_PATH_MAX];
} RtTextSpec;

int rt_text_is_spec(const char *s); /* "fortunes:" or "fortunes-chars:" */
int rt_text_parse_spec(const char *s, RtTextSpec *sp, RtError *e);
/* Where a word data set's vocabulary comes from: the checkpoint at path
 * (eval, predict, data and --resume; NULL: none), which holds it in its
 * __metadata__ as "nnrt.vocab" (rt_vocab_text's text), or, for checkpoints
 * written before that, in a file path + ".vocab.txt" beside it. When the
 * checkpoint does not exist or holds none, the vocabulary is built from the
 * training split. Loading data never writes anything: train saves the
 * vocabulary in each checkpoint (rt_text_vocab). Process-wide because
 * rt_data_load has no room for it; rt_main.c sets it from --checkpoint. */
void rt_text_set_vocab_checkpoint(const char *path);
/* The vocabulary the last load of a word data set used (rt_vocab_text's
 * text), NULL when none was loaded (no text data, or characters). */
const char *rt_text_vocab(void);
/* Loads split RT_SPLIT_* of a spec: x i32 [N, len], y i32 [N] (words) or
 * [N, len] (chars: y[t] = the byte after x[t]). */
int rt_text_load(const char *spec, int split, RtDataset *d, RtError *e);
/* predict's input for a word model: one sample per line of path ("-":
 * stdin; empty lines skipped), tokenized and padded as the spec's samples
 * are, with the vocabulary saved beside the checkpoint (else rebuilt from
 * the training split). x: i32 [lines, len], x->line their lines. */
int rt_text_read_lines(const char *spec, const char *path, RtArray *x, RtError *e);
/* `data` command: sizes, per-class counts, majority rate and a few decoded
 * samples of both splits of a spec or a data directory. */
int rt_data_inspect(const char *spec_or_dir, int samples, FILE *out, RtError *e);

#endif
