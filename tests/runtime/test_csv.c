/* test_csv.c — CSV data sets (rt_csv.c): the dialect (quotes, CRLF, BOM,
 * empty lines), the label column, the train/test split, a directory with
 * train.csv and test.csv, every hostile input with its exact message
 * (file:line:col), mutated files that must load or fail cleanly, and the
 * data command on regression sets (float labels), CSV and .npy alike.
 * Prints one line per test and closes with "N passed, N failed". */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static float xat(const RtArray *a, int64_t r, int64_t c) { return ((float *)a->data)[r * a->dims[1] + c]; }

static void test_dialect(void) {
  RtError e = {0};
  RtArray x, y;
  const char *p = tmp("d.csv");
  /* BOM, a quoted header with a comma and "", CRLF, an empty line, spaces
   * around numbers, a quoted number, no newline at the end */
  write_str(p, "\xef\xbb\xbf"
               "a,\"b, \"\"2\"\"\",label\r\n"
               "1, 2.5 ,0\r\n"
               "\r\n"
               "-3,\"4e1\",2\r\n"
               "0x10,  5,1");
  CHECK(rt_csv_read(p, "label", NNRT_I32, &x, &y, NULL, &e) == 0);
  CHECK(x.dtype == NNRT_F32 && x.rank == 2 && x.dims[0] == 3 && x.dims[1] == 2);
  CHECK(xat(&x, 0, 1) == 2.5f && xat(&x, 1, 0) == -3 && xat(&x, 1, 1) == 40 && xat(&x, 2, 0) == 16);
  CHECK(y.dtype == NNRT_I32 && y.rank == 1 && y.dims[0] == 3 && ((int32_t *)y.data)[1] == 2);
  CHECK(x.line[0] == 2 && x.line[1] == 4 && x.line[2] == 5 && y.line[2] == 5);
  char where[RT_PATH_MAX + 32];
  CHECK(strstr(rt_array_where(&y, 1, where, sizeof where), "d.csv:4") != NULL);
  rt_array_free(&x);
  rt_array_free(&y);
  /* the label column may be anywhere, even a quoted name; float labels stay
   * float; as stored: i32 only when every label is an integer */
  CHECK(rt_csv_read(p, "b, \"2\"", NNRT_F32, &x, &y, NULL, &e) == 0);
  CHECK(x.dims[1] == 2 && xat(&x, 0, 1) == 0 && y.dtype == NNRT_F32 && ((float *)y.data)[0] == 2.5f);
  rt_array_free(&x);
  rt_array_free(&y);
  CHECK(rt_csv_read(p, "b, \"2\"", RT_DTYPE_AS_STORED, &x, &y, NULL, &e) == 0 && y.dtype == NNRT_F32);
  rt_array_free(&x);
  rt_array_free(&y);
  CHECK(rt_csv_read(p, "label", RT_DTYPE_AS_STORED, &x, &y, NULL, &e) == 0 && y.dtype == NNRT_I32);
  rt_array_free(&x);
  rt_array_free(&y);
  /* no labels wanted (predict): the label column is skipped when named,
   * every column is a feature when not */
  CHECK(rt_csv_read(p, "label", NNRT_F32, &x, NULL, NULL, &e) == 0 && x.dims[1] == 2);
  rt_array_free(&x);
  CHECK(rt_csv_read(p, NULL, NNRT_F32, &x, NULL, NULL, &e) == 0 && x.dims[1] == 3);
  rt_array_free(&x);
  /* a quoted cell may span lines; later line numbers count them */
  write_str(p, "\"multi\nline\",y\n1,2\n3,4\n");
  CHECK(rt_csv_read(p, "y", NNRT_F32, &x, &y, NULL, &e) == 0 && x.dims[0] == 2 && x.line[0] == 3 && x.line[1] == 4);
  rt_array_free(&x);
  rt_array_free(&y);
}

/* Each hostile file fails with exactly this message (after the path). */
static void test_hostile(void) {
  static const struct {
    const char *text, *label, *want;
    int ints;
  } bad[] = {
      {"", "y", ": empty file; expected a header row naming the columns, then one row per sample", 0},
      {"\n\n", "y", ": empty file; expected a header row naming the columns, then one row per sample", 0},
      {"a,y\n", "y", ":1: a header but no rows; expected at least one sample after it", 0},
      {"a,y\n1,2\nabc,3\n", "y", ":3:1: column 'a': expected a number, found 'abc'", 0},
      {"a,y\n1,2\n3,abc\n", "y",
       ":3:3: label column 'y': expected a number, found 'abc' (class names need a classification model; this one "
       "regresses)",
       0},
      {"a,y\n1,2\n N/A ,3\n", "y",
       ":3:1: column 'a': ' N/A ' marks a missing value; expected a number (fill or drop missing values first)", 0},
      {"a,y\n1,cat\n3,NA\n", "y", ":3:3: column 'y': 'NA' marks a missing value", 1},
      {"a,y\n1,cat\n3,\n", "y", ":3:3: column 'y': empty cell; expected a number", 1},
      {"a,y\n1,2\n3,\n", "y", ":3:3: column 'y': empty cell; expected a number", 0},
      {"a,y\n1,2\n\"\",4\n", "y", ":3:1: column 'a': empty cell; expected a number", 0},
      {"a,y\n1,2\n3\n", "y", ":3:2: the row ends after 1 cells, but the header has 2 (a ragged row)", 0},
      {"a,y\n1,2,5\n", "y", ":2:5: more cells than the header's 2 columns (a ragged row)", 0},
      {"a,y\nnan,1\n", "y",
       ":2:1: column 'a': 'nan' is not a finite f32 number (NaN and inf are refused: fill or drop missing values "
       "first)",
       0},
      {"a,y\n1,-inf\n", "y", ":2:3: column 'y': '-inf' is not a finite f32 number", 0},
      {"a,y\n1e39,1\n", "y", ":2:1: column 'a': '1e39' is not a finite f32 number", 0},
      {"a,y\n1,2\n", "z", ":1: no label column 'z' in the header; the columns are 'a', 'y'", 0},
      {"a,y\n1,2\n", NULL,
       ": which column holds the labels? Name it with --label-column NAME (or label=NAME); the columns are 'a', 'y'",
       0},
      {"y,a,y\n1,2,3\n", "y", ":1:5: the header names the label column 'y' twice", 0},
      {"y\n1\n", "y", ":1: no feature columns: the header names only the label column 'y'", 0},
      {"a,y\n1,\"2\n", "y", ":2:3: a quoted cell never ends (no closing '\"')", 0},
      {"a,y\n1,\"2\"x\n", "y", ":2:6: expected ',' or the end of the row after a quoted cell, found 'x'", 0},
      {"a,y\n1,2\0\n", "y", ":2:4: a NUL byte; expected text (is this a CSV file?)", 0},
      {"a,y\n\"1\0\",2\n", "y", ":2:3: a NUL byte; expected text (is this a CSV file?)", 0},
      {"a,y\n1,2.5\n", "y",
       ":2:3: label column 'y': expected an integer class label, found '2.5' (this model classifies; a regression "
       "model takes any number)",
       1},
      {"a,y\n1,3000000000\n", "y", ":2:3: label column 'y': expected an integer class label, found '3000000000'", 1},
  };
  const char *p = tmp("bad.csv");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    RtError e = {0};
    RtArray x, y;
    size_t n = strlen(bad[i].text);
    if (strstr(bad[i].want, "NUL")) n += 1 + strlen(bad[i].text + n + 1); /* the text holds one NUL */
    write_file(p, bad[i].text, n);
    int rc = rt_csv_read(p, bad[i].label, bad[i].ints ? NNRT_I32 : NNRT_F32, &x, &y, NULL, &e);
    char want[1024];
    snprintf(want, sizeof want, "%s%s", p, bad[i].want);
    CHECK(rc == -1 && e.code == RT_EXIT_USAGE && x.data == NULL && y.data == NULL);
    if (strncmp(e.msg, want, strlen(want)) != 0) {
      g_failed_checks++;
      fprintf(stderr, "case %zu: message\n  \"%s\"\nlacks\n  \"%s\"\n", i, e.msg, want);
    }
  }
  RtError e = {0};
  RtArray x, y;
  CHECK_ERR(rt_csv_read(tmp("none.csv"), "y", NNRT_F32, &x, &y, NULL, &e), e, "none.csv: cannot open: No such file");
}

/* Every prefix of a good file, and files with bytes changed at random
 * (a fixed Philox stream), load or fail with a message: never a crash, a
 * leak or a half-filled array. */
static void test_mutations(void) {
  const char good[] = "f1,\"f 2\",label\n0.5,1,0\n-2,\"3\",1\r\n\n4e-3,5,2\n";
  size_t n = sizeof good - 1;
  const char *p = tmp("m.csv");
  int ok = 1;
  for (size_t len = 0; len <= n; len++) {
    RtError e = {0};
    RtArray x, y;
    write_file(p, good, len);
    int rc = rt_csv_read(p, "label", NNRT_I32, &x, &y, NULL, &e);
    ok &= rc == 0 ? x.dims[0] >= 1 && x.dims[1] == 2 && y.dims[0] == x.dims[0] : e.msg[0] != '\0' && !x.data;
    if (rc == 0) rt_array_free(&x), rt_array_free(&y);
  }
  CHECK(ok);
  static const char alphabet[] = ",\"\n\r 0123456789.eE+-xnaif\0\xff";
  RtRng r;
  rt_rng_init(&r, 7, 0, 0);
  int loaded = 0, failed = 0;
  for (int t = 0; t < 2000; t++) {
    char buf[sizeof good];
    memcpy(buf, good, n);
    for (int k = 0, m = 1 + (int)rt_rng_below(&r, 3); k < m; k++)
      buf[rt_rng_below(&r, (uint32_t)n)] = alphabet[rt_rng_below(&r, sizeof alphabet - 1)];
    write_file(p, buf, n);
    RtError e = {0};
    RtArray x, y;
    int rc = rt_csv_read(p, "label", rt_rng_below(&r, 2) ? NNRT_I32 : NNRT_F32, &x, &y, NULL, &e);
    if (rc == 0) {
      int finite = 1;
      for (int64_t i = 0; i < x.numel; i++)
        finite &= isfinite(((float *)x.data)[i]);
      ok &= finite && x.dims[1] >= 1 && y.dims[0] == x.dims[0];
      loaded++;
      rt_array_free(&x), rt_array_free(&y);
    } else {
      ok &= e.code == RT_EXIT_USAGE && strncmp(e.msg, p, strlen(p)) == 0 && !x.data && !y.data;
      failed++;
    }
  }
  CHECK(ok && loaded > 0 && failed > 0);
}

static void write_rows(const char *path, int n, int float_labels) {
  FILE *f = fopen(path, "w");
  fprintf(f, "x0,x1,target\n");
  for (int i = 0; i < n; i++)
    fprintf(f, float_labels ? "%d,%d,%d.5\n" : "%d,%d,%d\n", i, 2 * i, i % 3);
  fclose(f);
}

static void test_split(void) {
  RtError e = {0};
  RtDataset tr, te, tr2;
  char spec[RT_PATH_MAX];
  write_rows(tmp("s.csv"), 50, 0);
  snprintf(spec, sizeof spec, "%s?label=target&test=0.3&seed=5", tmp("s.csv"));
  CHECK(rt_csv_is_spec(spec) && !rt_csv_is_spec("fortunes:a,b") && !rt_csv_is_spec(".csv"));
  CHECK(rt_data_load(spec, RT_SPLIT_TRAIN, NNRT_F32, NNRT_I32, &tr, &e) == 0);
  CHECK(rt_data_load(spec, RT_SPLIT_TEST, NNRT_F32, NNRT_I32, &te, &e) == 0);
  CHECK(tr.x.dims[0] == 35 && te.x.dims[0] == 15 && tr.x.dims[1] == 2);
  /* disjoint, together every row, each split in file order, x and y and
   * the lines of one row together */
  int seen[50] = {0}, ordered = 1, agree = 1;
  for (int s = 0; s < 2; s++) {
    RtDataset *d = s ? &te : &tr;
    for (int64_t i = 0; i < d->x.dims[0]; i++) {
      int row = (int)xat(&d->x, i, 0);
      seen[row]++;
      agree &= xat(&d->x, i, 1) == 2 * row && ((int32_t *)d->y.data)[i] == row % 3 && d->x.line[i] == row + 2;
      ordered &= i == 0 || xat(&d->x, i - 1, 0) < row;
    }
  }
  int all = 1;
  for (int i = 0; i < 50; i++)
    all &= seen[i] == 1;
  CHECK(all && ordered && agree);
  /* the same spec gives the same split; --label-column wins over label= */
  rt_csv_set_label_column("x1");
  CHECK(rt_data_load(spec, RT_SPLIT_TRAIN, NNRT_F32, NNRT_F32, &tr2, &e) == 0);
  rt_csv_set_label_column(NULL);
  CHECK(tr2.x.dims[0] == 35 && ((float *)tr2.y.data)[0] == xat(&tr.x, 0, 1) &&
        xat(&tr2.x, 0, 1) == (float)((int32_t *)tr.y.data)[0]);
  rt_data_free(&tr2);
  rt_data_free(&tr);
  rt_data_free(&te);
  snprintf(spec, sizeof spec, "%s?label=target&test=1", tmp("s.csv"));
  CHECK_ERR(rt_data_load(spec, RT_SPLIT_TRAIN, NNRT_F32, NNRT_I32, &tr, &e), e, "test: expected a fraction in (0, 1)");
  snprintf(spec, sizeof spec, "%s?lable=target", tmp("s.csv"));
  CHECK_ERR(rt_data_load(spec, RT_SPLIT_TRAIN, NNRT_F32, NNRT_I32, &tr, &e), e,
            "unknown key 'lable'; the keys are label, test and seed");
  CHECK_ERR(rt_data_load(tmp("nope.csv"), RT_SPLIT_TRAIN, NNRT_F32, NNRT_I32, &tr, &e), e, "nope.csv: no such file");
  write_rows(tmp("one.csv"), 1, 0);
  snprintf(spec, sizeof spec, "%s?label=target", tmp("one.csv"));
  CHECK_ERR(rt_data_load(spec, RT_SPLIT_TRAIN, NNRT_F32, NNRT_I32, &tr, &e), e,
            "one.csv: 1 row; a train/test split needs at least 2");
  /* a label out of the model's classes names the file and line */
  RtSession s = {0};
  s.m = &(NnrtModel){.task = NNRT_TASK_CLASSIFY};
  s.classes = 2;
  snprintf(spec, sizeof spec, "%s?label=target&test=0.5", tmp("s.csv"));
  CHECK(rt_data_load(spec, RT_SPLIT_TEST, NNRT_F32, NNRT_I32, &te, &e) == 0);
  char want[RT_PATH_MAX + 64];
  int64_t first2 = -1;
  for (int64_t i = 0; i < te.y.numel && first2 < 0; i++)
    if (((int32_t *)te.y.data)[i] == 2) first2 = i;
  snprintf(want, sizeof want, "%s:%lld: label %lld is 2, but the model has 2 classes", tmp("s.csv"),
           (long long)te.x.line[first2], (long long)first2);
  CHECK_ERR(rt_check_labels(&s, &te.y, &e), e, want);
  rt_data_free(&te);
}

static void test_dir_and_inspect(void) {
  RtError e = {0};
  RtDataset d;
  const char *dir = tmp("csvdir");
  mkdir(dir, 0755);
  char path[RT_PATH_MAX];
  snprintf(path, sizeof path, "%s/train.csv", dir);
  write_rows(path, 20, 1);
  snprintf(path, sizeof path, "%s/test.csv", dir);
  write_rows(path, 6, 1);
  CHECK_ERR(rt_data_load(dir, RT_SPLIT_TRAIN, NNRT_F32, NNRT_F32, &d, &e), e, "which column holds the labels?");
  rt_csv_set_label_column("target");
  CHECK(rt_data_load(dir, RT_SPLIT_TEST, NNRT_F32, NNRT_F32, &d, &e) == 0 && d.x.dims[0] == 6 &&
        ((float *)d.y.data)[5] == 2.5f);
  rt_data_free(&d);
  /* regression labels into a classifier: the cell that is not a class */
  CHECK_ERR(rt_data_load(dir, RT_SPLIT_TRAIN, NNRT_F32, NNRT_I32, &d, &e), e,
            "train.csv:2:5: label column 'target': expected an integer class label, found '0.5'");
  /* the data command takes float labels (it used to demand integers) */
  FILE *out = tmpfile();
  CHECK(rt_data_inspect(dir, 0, out, &e) == 0);
  rt_csv_set_label_column(NULL);
  char text[2048] = {0};
  rewind(out);
  size_t got = fread(text, 1, sizeof text - 1, out);
  fclose(out);
  CHECK(got > 0 && strstr(text, "train: 20 samples, x [20, 2] F32, y [20] F32\n"));
  CHECK(strstr(text, "  targets: min 0.5, max 2.5, mean 1.45, std 0.804674 (MSE of always predicting the mean: "
                     "0.6475)\n"));
  /* ... and a .npy regression set */
  const char *npy = tmp("npydir");
  mkdir(npy, 0755);
  float xv[8] = {1, 2, 3, 4, 5, 6, 7, 8}, yv[4] = {0.25f, -1, 3.5f, 2};
  RtArray xa = {.dtype = NNRT_F32, .rank = 2, .dims = {4, 2}, .numel = 8, .data = xv};
  RtArray ya = {.dtype = NNRT_F32, .rank = 1, .dims = {4}, .numel = 4, .data = yv};
  for (int s = 0; s < 2; s++) {
    snprintf(path, sizeof path, "%s/%s_x.npy", npy, s ? "test" : "train");
    CHECK(rt_npy_save(path, &xa, &e) == 0);
    snprintf(path, sizeof path, "%s/%s_y.npy", npy, s ? "test" : "train");
    CHECK(rt_npy_save(path, &ya, &e) == 0);
  }
  out = tmpfile();
  CHECK(rt_data_inspect(npy, 0, out, &e) == 0);
  memset(text, 0, sizeof text);
  rewind(out);
  got = fread(text, 1, sizeof text - 1, out);
  fclose(out);
  CHECK(got > 0 && strstr(text, "test: 4 samples, x [4, 2] F32, y [4] F32\n  targets: min -1, max 3.5, mean 1.1875"));
}

/* A label column of names: ids in strcmp order (sklearn's LabelEncoder),
 * the names for reports and predict; a directory's test.csv takes
 * train.csv's ids. */
static void test_names(void) {
  RtError e = {0};
  RtArray x, y;
  RtNames nm;
  const char *p = tmp("iris.csv");
  write_str(p, "sepal,species\n1,setosa\n2,virginica\n3,setosa\n4,versicolor\n5,1\n");
  CHECK(rt_csv_read(p, "species", NNRT_I32, &x, &y, &nm, &e) == 0);
  int32_t *id = y.data;
  CHECK(nm.n == 4 && strcmp(nm.name[0], "1") == 0 && strcmp(nm.name[1], "setosa") == 0 &&
        strcmp(nm.name[3], "virginica") == 0);
  CHECK(y.dtype == NNRT_I32 && id[0] == 1 && id[1] == 3 && id[2] == 1 && id[3] == 2 && id[4] == 0);
  rt_array_free(&x);
  rt_array_free(&y);
  rt_names_free(&nm);
  /* numbers: no names */
  write_rows(tmp("num.csv"), 4, 0);
  CHECK(rt_csv_read(tmp("num.csv"), "target", NNRT_I32, &x, &y, &nm, &e) == 0 && nm.n == 0);
  rt_array_free(&x);
  rt_array_free(&y);

  const char *dir = tmp("irisdir");
  mkdir(dir, 0755);
  char path[RT_PATH_MAX], spec[RT_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/train.csv", dir);
  write_str(path, "f,kind\n1,b\n2,a\n3,c\n4,a\n");
  snprintf(path, sizeof path, "%s/test.csv", dir);
  write_str(path, "f,kind\n5,c\n6,a\n");
  rt_csv_set_label_column("kind");
  RtDataset d;
  CHECK(rt_data_load(dir, RT_SPLIT_TEST, NNRT_F32, NNRT_I32, &d, &e) == 0);
  CHECK(d.y.numel == 2 && ((int32_t *)d.y.data)[0] == 2 && ((int32_t *)d.y.data)[1] == 0);
  rt_data_free(&d);
  write_str(path, "f,kind\n5,c\n6,d\n");
  snprintf(spec, sizeof spec, "%s:3: class 'd' does not occur in train.csv", path);
  CHECK_ERR(rt_data_load(dir, RT_SPLIT_TEST, NNRT_F32, NNRT_I32, &d, &e), e, spec);
  /* the names in the data command and for eval's report and predict */
  FILE *out = tmpfile();
  write_str(path, "f,kind\n5,c\n6,a\n");
  CHECK(rt_data_inspect(dir, 0, out, &e) == 0);
  char text[2048] = {0};
  rewind(out);
  CHECK(fread(text, 1, sizeof text - 1, out) > 0);
  fclose(out);
  CHECK(strstr(text, "  classes: 0 (a)=2 1 (b)=1 2 (c)=1\n") && strstr(text, "  classes: 0 (a)=1 1 (b)=0 2 (c)=1\n"));
  RtTextSpec sp;
  const char *buf[4];
  const char *const *names = rt_class_names(dir, NULL, 4, &sp, &nm, buf);
  CHECK(names && strcmp(names[0], "a") == 0 && strcmp(names[2], "c") == 0 && names[3] == NULL);
  rt_names_free(&nm);
  rt_csv_set_label_column(NULL);
  snprintf(spec, sizeof spec, "%s?label=species", p);
  names = rt_class_names(spec, NULL, 4, &sp, &nm, buf);
  CHECK(names && strcmp(names[1], "setosa") == 0);
  rt_names_free(&nm);
  CHECK(rt_class_names(tmp("num.csv"), NULL, 3, &sp, &nm, buf) == NULL);
}

/* A data name with '/' or '.' is a path, used as given; a bare name is an
 * installed data set. */
static void test_paths(void) {
  char b[RT_PATH_MAX];
  CHECK(strcmp(rt_data_default_dir("fashion_mnist", b, sizeof b), "/usr/share/datasets/fashion-mnist") == 0);
  CHECK(strcmp(rt_data_default_dir("data/houses.csv?label=price", b, sizeof b), "data/houses.csv?label=price") == 0);
  CHECK(strcmp(rt_data_default_dir("/abs/dir", b, sizeof b), "/abs/dir") == 0);
  CHECK(strcmp(rt_data_default_dir("./mydata", b, sizeof b), "./mydata") == 0);
  CHECK(strcmp(rt_data_default_dir("../up/x.csv", b, sizeof b), "../up/x.csv") == 0);
  CHECK(strcmp(rt_data_default_dir("fortunes:a,b", b, sizeof b), "fortunes:a,b") == 0);
}

int main(void) {
  static const CheckTest tests[] = {
      {"dialect", test_dialect},
      {"hostile", test_hostile},
      {"mutations", test_mutations},
      {"split", test_split},
      {"dir_and_inspect", test_dir_and_inspect},
      {"names", test_names},
      {"paths", test_paths},
  };
  return check_main(tests, sizeof tests / sizeof tests[0], "nnrt_csv");
}
