/* test_text.c — unit tests of libnnrt's text data: the tokenizer, vocabulary
 * order and ties, padding and truncation, fortune files good and malformed
 * (hand-written into a fresh temporary directory), data-set specs, split
 * determinism, the vocabulary file, char-level windows, and the real
 * `computers` category of Debian's fortunes package.
 *
 * Prints one line per failed check and closes with "N passed, N failed"
 * (counting test functions); exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The words of s joined by '|'. */
static const char *words(const char *s) {
  static char out[1024];
  char w[RT_WORD_MAX];
  size_t pos = 0, n = strlen(s);
  out[0] = '\0';
  while (rt_text_next_word(s, n, &pos, w, sizeof w)) {
    if (out[0]) strcat(out, "|");
    strcat(out, w);
  }
  return out;
}

static void test_tokenizer(void) {
  CHECK(strcmp(words("Don't PANIC! 42-times"), "don't|panic|42|times") == 0);
  CHECK(strcmp(words("'quoted' ''' x''y"), "quoted|x''y") == 0);                    /* edge apostrophes go */
  CHECK(strcmp(words("\xc3\xa9migr\xc3\xa9 caf\xe9\r\nend"), "migr|caf|end") == 0); /* odd bytes separate */
  CHECK(strcmp(words(""), "") == 0);
  CHECK(strcmp(words(" \t%%\n--"), "") == 0);
  char longw[200];
  memset(longw, 'A', 150);
  longw[150] = '\0';
  const char *lw = words(longw);
  CHECK(strlen(lw) == RT_WORD_MAX - 1 && lw[0] == 'a'); /* cut, lowercased */
}

/* Quotes from literal strings, as rt_fortune_read would store them. */
static void quotes_of(RtQuotes *q, const char *const *texts, int n) {
  memset(q, 0, sizeof *q);
  const char *path = tmp("quotes");
  char buf[4096] = "";
  for (int i = 0; i < n; i++) {
    strcat(buf, texts[i]);
    strcat(buf, "\n%\n");
  }
  write_str(path, buf);
  RtError e = {0};
  CHECK(rt_fortune_read(path, 0, q, &e) == 0);
  CHECK(q->n == n);
}

static void test_vocab(void) {
  static const char *const t[] = {"b a c a", "b d c", "zz"};
  RtQuotes q;
  quotes_of(&q, t, 3);
  RtVocab v;
  RtError e = {0};
  /* a, b, c twice (ties alphabetical), then d and zz once. */
  CHECK(rt_vocab_build(&v, &q, NULL, q.n, 100, &e) == 0);
  CHECK(v.n == 7);
  static const char *const want[] = {"<pad>", "<unk>", "a", "b", "c", "d", "zz"};
  for (int i = 0; i < 7 && i < v.n; i++)
    CHECK(strcmp(v.word[i], want[i]) == 0);
  CHECK(rt_vocab_id(&v, "c") == 4 && rt_vocab_id(&v, "nope") == RT_ID_UNK && rt_vocab_id(&v, "<pad>") == RT_ID_UNK);
  rt_vocab_free(&v);
  /* Capped at 4 ids: padding, unknown, a, b. */
  CHECK(rt_vocab_build(&v, &q, NULL, q.n, 4, &e) == 0);
  CHECK(v.n == 4 && strcmp(v.word[3], "b") == 0 && rt_vocab_id(&v, "c") == RT_ID_UNK);
  rt_vocab_free(&v);
  /* Only quote 1: b, c, d once each: alphabetical. */
  int32_t one = 1;
  CHECK(rt_vocab_build(&v, &q, &one, 1, 100, &e) == 0);
  CHECK(v.n == 5 && strcmp(v.word[2], "b") == 0 && strcmp(v.word[4], "d") == 0);
  rt_vocab_free(&v);

  /* Padding and truncation. */
  CHECK(rt_vocab_build(&v, &q, NULL, q.n, 100, &e) == 0);
  int32_t out[6];
  CHECK(rt_text_encode(&v, "A b c d", 7, 3, out) == 3);
  CHECK(out[0] == 2 && out[1] == 3 && out[2] == 4);
  CHECK(rt_text_encode(&v, "a, qq!", 6, 6, out) == 2);
  CHECK(out[0] == 2 && out[1] == RT_ID_UNK && out[2] == 0 && out[5] == 0);
  CHECK(rt_text_encode(&v, "", 0, 2, out) == 0 && out[0] == 0 && out[1] == 0);

  /* Saved and loaded: the same ids. */
  const char *vp = tmp("v.vocab.txt");
  CHECK(rt_vocab_save(&v, vp, &e) == 0);
  RtVocab w;
  CHECK(rt_vocab_load(&w, vp, &e) == 0);
  CHECK(w.n == v.n);
  for (int i = 0; i < v.n && i < w.n; i++)
    CHECK(strcmp(v.word[i], w.word[i]) == 0 && rt_vocab_id(&w, v.word[i]) == (i < 2 ? RT_ID_UNK : i));
  rt_vocab_free(&w);
  rt_vocab_free(&v);
  rt_quotes_free(&q);

  write_str(vp, "<unk>\n<pad>\n");
  CHECK_ERR(rt_vocab_load(&w, vp, &e), e, "v.vocab.txt:1: expected '<pad>', found '<unk>'");
  write_str(vp, "<pad>\n<unk>\nab\nAb\n");
  CHECK_ERR(rt_vocab_load(&w, vp, &e), e, "v.vocab.txt:4: 'Ab' is not a word");
  write_str(vp, "<pad>\n<unk>\nab\nab\n");
  CHECK_ERR(rt_vocab_load(&w, vp, &e), e, "v.vocab.txt:4: 'ab' appears twice");
  write_str(vp, "<pad>\n<unk>\nab");
  CHECK_ERR(rt_vocab_load(&w, vp, &e), e, "v.vocab.txt:3: line too long or not ended by a newline");
  write_str(vp, "<pad>\n");
  CHECK_ERR(rt_vocab_load(&w, vp, &e), e, "expected at least the lines");
}

static void test_fortune_files(void) {
  RtQuotes q = {0};
  RtError e = {0};
  /* CRLF, empty quotes, "%%" and "% " lines that are text, no final "%". */
  const char *good = tmp("good");
  write_str(good, "one\r\n%\r\n%\r\n  \r\n%\r\n%% not a separator\n% neither\n%\nlast, unterminated");
  CHECK(rt_fortune_read(good, 7, &q, &e) == 0);
  CHECK(q.n == 3);
  if (q.n == 3) {
    CHECK(q.len[0] == 5 && memcmp(q.buf + q.start[0], "one\r\n", 5) == 0);
    CHECK(strncmp(q.buf + q.start[1], "%% not a separator\n% neither\n", (size_t)q.len[1]) == 0);
    CHECK(strncmp(q.buf + q.start[2], "last, unterminated", (size_t)q.len[2]) == 0 && q.label[2] == 7);
  }
  /* A bad second file leaves the first file's quotes. */
  const char *empty = tmp("empty");
  write_str(empty, "");
  CHECK_ERR(rt_fortune_read(empty, 1, &q, &e), e,
            "/empty: empty file; expected quotes separated by lines holding only '%'");
  CHECK(q.n == 3);
  const char *nopct = tmp("nopct");
  write_str(nopct, "just one line\nand another\n");
  CHECK_ERR(rt_fortune_read(nopct, 1, &q, &e), e, "/nopct: offset 26: no line holding only '%'; not a fortune file");
  const char *bin = tmp("binary");
  write_file(bin, "ab\n%\n\0\x01\xff", 8);
  CHECK_ERR(rt_fortune_read(bin, 1, &q, &e), e, "/binary: offset 5: NUL byte; this is a binary file");
  const char *onlypct = tmp("onlypct");
  write_str(onlypct, "%\n \n%\n\n");
  CHECK_ERR(rt_fortune_read(onlypct, 1, &q, &e), e, "/onlypct: offset 7: no quotes");
  CHECK_ERR(rt_fortune_read(tmp("missing"), 1, &q, &e), e, "/missing: cannot open: No such file");
  CHECK(q.n == 3 && q.size == (int64_t)strlen("one\r\n%\r\n%\r\n  \r\n%\r\n%% not a separator\n% neither\n%\nlast, "
                                              "unterminated"));
  rt_quotes_free(&q);
}

static void test_spec(void) {
  RtTextSpec sp;
  RtError e = {0};
  CHECK(rt_text_parse_spec("fortunes:computers,science", &sp, &e) == 0);
  CHECK(!sp.chars && sp.ncat == 2 && strcmp(sp.cat[1], "science") == 0 && sp.len == 100 && sp.vocab == 10000 &&
        sp.test == 0.2 && sp.seed == 0 && strcmp(sp.dir, RT_FORTUNES_DIR) == 0);
  CHECK(rt_text_parse_spec("fortunes:a,b,c?len=7&vocab=50&test=0.5&seed=9&dir=/x/y", &sp, &e) == 0);
  CHECK(sp.ncat == 3 && sp.len == 7 && sp.vocab == 50 && sp.test == 0.5 && sp.seed == 9 && strcmp(sp.dir, "/x/y") == 0);
  CHECK(rt_text_parse_spec("fortunes-chars:linux", &sp, &e) == 0);
  CHECK(sp.chars && sp.ncat == 1 && sp.len == 128 && sp.vocab == 256);
  CHECK(rt_text_is_spec("fortunes:a") && rt_text_is_spec("fortunes-chars:a") && !rt_text_is_spec("/data/fortunes:a"));
  CHECK_ERR(rt_text_parse_spec("fortunes:a", &sp, &e), e, "needs two or more categories");
  CHECK_ERR(rt_text_parse_spec("fortunes:", &sp, &e), e, "no category");
  CHECK_ERR(rt_text_parse_spec("fortunes:a,", &sp, &e), e, "empty category after ','");
  CHECK_ERR(rt_text_parse_spec("fortunes:a,../etc", &sp, &e), e, "bad category '../etc'");
  CHECK_ERR(rt_text_parse_spec("fortunes:a,b/c", &sp, &e), e, "bad category 'b/c'");
  CHECK_ERR(rt_text_parse_spec("fortunes:a,a", &sp, &e), e, "category 'a' given twice");
  CHECK_ERR(rt_text_parse_spec("fortunes:a,b?size=3", &sp, &e), e, "unknown key 'size'");
  CHECK_ERR(rt_text_parse_spec("fortunes:a,b?len", &sp, &e), e, "expected KEY=VALUE, got 'len'");
  CHECK_ERR(rt_text_parse_spec("fortunes:a,b?len=0", &sp, &e), e, "len: expected an integer from 1");
  CHECK_ERR(rt_text_parse_spec("fortunes:a,b?vocab=2", &sp, &e), e, "vocab: expected an integer >= 3");
  CHECK_ERR(rt_text_parse_spec("fortunes:a,b?test=1", &sp, &e), e, "test: expected a fraction in (0, 1)");
  CHECK_ERR(rt_text_parse_spec("fortunes-chars:a?vocab=30", &sp, &e), e, "fortunes-chars has no vocab key");
}

/* Category a: 10 quotes, b: 5; every quote one unique word, so a word is
 * known exactly when its quote is in the training split. */
static void make_cats(void) {
  char buf[1024] = "", *p = buf;
  for (int i = 0; i < 10; i++)
    p += sprintf(p, "alpha%d common\n%%\n", i);
  write_str(tmp("cats/a"), buf);
  p = buf;
  for (int i = 0; i < 5; i++)
    p += sprintf(p, "beta%d common\r\n%%\r\n", i);
  write_str(tmp("cats/b"), buf);
}

static void test_split(void) {
  mkdir(tmp("cats"), 0700);
  make_cats();
  char spec[600], spec2[600];
  snprintf(spec, sizeof spec, "fortunes:a,b?len=3&dir=%s", tmp("cats"));
  snprintf(spec2, sizeof spec2, "fortunes:a,b?len=3&seed=1&dir=%s", tmp("cats"));
  RtDataset tr, te, tr2, other;
  RtError e = {0};
  rt_text_set_vocab_checkpoint(NULL);
  CHECK(rt_text_load(spec, RT_SPLIT_TRAIN, &tr, &e) == 0);
  CHECK(rt_text_load(spec, RT_SPLIT_TEST, &te, &e) == 0);
  CHECK(rt_text_load(spec, RT_SPLIT_TRAIN, &tr2, &e) == 0);
  CHECK(rt_text_load(spec2, RT_SPLIT_TRAIN, &other, &e) == 0);
  /* Stratified: round(10 * 0.2) = 2 and round(5 * 0.2) = 1 held out. */
  CHECK(tr.x.dims[0] == 12 && tr.x.dims[1] == 3 && te.x.dims[0] == 3 && tr.y.dims[0] == 12 && te.y.rank == 1);
  if (tr.x.dims[0] == 12 && te.x.dims[0] == 3) {
    const int32_t *x = tr.x.data, *y = tr.y.data, *tx = te.x.data, *ty = te.y.data;
    CHECK(memcmp(tr.x.data, tr2.x.data, 12 * 3 * 4) == 0 && memcmp(tr.y.data, tr2.y.data, 12 * 4) == 0);
    CHECK(memcmp(tr.x.data, other.x.data, 12 * 3 * 4) != 0); /* another seed, another split */
    int ones = 0;
    for (int i = 0; i < 12; i++) {
      ones += y[i];
      /* "alphaN common": both words known (from the training split), then padding */
      CHECK(x[i * 3] >= 2 && x[i * 3 + 1] == 2 && x[i * 3 + 2] == 0);
    }
    CHECK(ones == 4 && ty[0] == 0 && ty[1] == 0 && ty[2] == 1);
    for (int i = 0; i < 3; i++) /* a test quote's own word was never seen in training */
      CHECK(tx[i * 3] == RT_ID_UNK && tx[i * 3 + 1] == 2);
  }
  rt_data_free(&tr);
  rt_data_free(&te);
  rt_data_free(&tr2);
  rt_data_free(&other);

  /* pad=pre: the same words, the padding first. */
  snprintf(spec2, sizeof spec2, "fortunes:a,b?len=3&pad=pre&dir=%s", tmp("cats"));
  CHECK(rt_text_load(spec2, RT_SPLIT_TRAIN, &tr, &e) == 0);
  const int32_t *px = tr.x.data;
  for (int i = 0; i < 12; i++) CHECK(px[i * 3] == 0 && px[i * 3 + 1] >= 2 && px[i * 3 + 2] == 2);
  rt_data_free(&tr);
  CHECK_ERR(rt_text_parse_spec("fortunes:a,b?pad=left", &(RtTextSpec){0}, &e), e, "pad: expected pre or post, got 'left'");

  /* rt_data_load takes a spec where it takes a directory, and converts. */
  CHECK(rt_data_load(spec, RT_SPLIT_TEST, NNRT_F32, NNRT_I32, &te, &e) == 0);
  CHECK(te.x.dtype == NNRT_F32 && te.y.dtype == NNRT_I32 && ((float *)te.x.data)[0] == 1.0f);
  rt_data_free(&te);

  snprintf(spec, sizeof spec, "fortunes:a,nope?dir=%s", tmp("cats"));
  CHECK_ERR(rt_text_load(spec, RT_SPLIT_TRAIN, &tr, &e), e, "cats/nope: no such fortune category");
  CHECK_ERR(rt_text_load("fortunes:a,b?dir=/no/such/dir", RT_SPLIT_TRAIN, &tr, &e), e,
            "/no/such/dir: no such directory");
  write_file(tmp("cats/bin"), "x\n%\n\0", 5);
  snprintf(spec, sizeof spec, "fortunes:a,bin?dir=%s", tmp("cats"));
  CHECK_ERR(rt_text_load(spec, RT_SPLIT_TRAIN, &tr, &e), e, "cats/bin: offset 4: NUL byte");
}

static void test_vocab_file(void) {
  char spec[600];
  snprintf(spec, sizeof spec, "fortunes:a,b?len=2&vocab=5&dir=%s", tmp("cats"));
  const char *ck = tmp("ck.safetensors"), *vp = tmp("ck.safetensors.vocab.txt");
  unlink(ck);
  unlink(vp);
  RtDataset tr, te, te2;
  RtError e = {0};
  /* Training builds it (common (15), then the 2 first alphabetically of the
   * words seen once in training), keeps it for the checkpoint and writes
   * nothing: not even with a checkpoint named. */
  rt_text_set_vocab_checkpoint(ck);
  CHECK(rt_text_load(spec, RT_SPLIT_TRAIN, &tr, &e) == 0);
  CHECK(!rt_file_exists(vp) && !rt_file_exists(ck));
  RtVocab v;
  const char *text = rt_text_vocab();
  CHECK(text && rt_vocab_parse(&v, text, strlen(text), "kept", &e) == 0);
  CHECK(v.n == 5 && strcmp(v.word[2], "common") == 0 && strncmp(v.word[3], "alpha", 5) == 0);
  rt_vocab_free(&v);
  CHECK(rt_text_load(spec, RT_SPLIT_TEST, &te, &e) == 0);
  /* A checkpoint carries it in its metadata (a model without tensors will
   * do): eval reads it back and encodes alike. */
  NnrtModel m = {0};
  m.name = "t";
  RtGlobals g = {0};
  RtMeta meta = {0};
  meta.vocab = "<pad>\n<unk>\nzzz\ncommon\n";
  CHECK(rt_st_save(ck, &m, &g, &meta, &e) == 0);
  char *got = NULL;
  CHECK(rt_st_meta_text(ck, "nnrt.vocab", &got, &e) == 0 && got && strcmp(got, meta.vocab) == 0);
  free(got);
  CHECK(rt_st_meta_text(ck, "nnrt.none", &got, &e) == 0 && got == NULL);
  /* The checkpoint's vocabulary wins over what the data would build. */
  CHECK(rt_text_load(spec, RT_SPLIT_TEST, &te2, &e) == 0);
  CHECK(((int32_t *)te2.x.data)[1] == 3);
  rt_data_free(&te2);
  /* A vocabulary file beside it that differs is refused; one that matches is fine. */
  write_str(vp, "<pad>\n<unk>\nzzz\n");
  CHECK_ERR(rt_text_load(spec, RT_SPLIT_TEST, &te2, &e), e,
            "ck.safetensors.vocab.txt does not match the vocabulary saved in");
  write_str(vp, meta.vocab);
  CHECK(rt_text_load(spec, RT_SPLIT_TEST, &te2, &e) == 0);
  rt_data_free(&te2);
  meta.vocab = "<pad>\n<unk>\na\nb\nc\nd\n";
  CHECK(rt_st_save(ck, &m, &g, &meta, &e) == 0);
  unlink(vp);
  CHECK_ERR(rt_text_load(spec, RT_SPLIT_TEST, &te2, &e), e, "6 ids, but");
  meta.vocab = "<pad>\n<unk>\nAb\n";
  CHECK(rt_st_save(ck, &m, &g, &meta, &e) == 0);
  CHECK_ERR(rt_text_load(spec, RT_SPLIT_TEST, &te2, &e), e,
            "ck.safetensors (its vocabulary, nnrt.vocab):3: 'Ab' is not a word");
  /* An older checkpoint, without it: the file beside it. */
  meta.vocab = NULL;
  CHECK(rt_st_save(ck, &m, &g, &meta, &e) == 0);
  write_str(vp, "<pad>\n<unk>\nzzz\ncommon\n");
  CHECK(rt_text_load(spec, RT_SPLIT_TEST, &te2, &e) == 0);
  CHECK(((int32_t *)te2.x.data)[1] == 3);
  rt_data_free(&te2);
  /* No checkpoint: built again, the same as training's. */
  unlink(ck);
  unlink(vp);
  CHECK(rt_text_load(spec, RT_SPLIT_TEST, &te2, &e) == 0);
  CHECK(te.x.numel == te2.x.numel && memcmp(te.x.data, te2.x.data, (size_t)te.x.numel * 4) == 0);
  rt_data_free(&te2);
  rt_text_set_vocab_checkpoint(NULL);
  rt_data_free(&tr);
  rt_data_free(&te);
}

static void test_chars(void) {
  mkdir(tmp("chars"), 0700);
  /* Two quotes; test=0.5 holds one out per category. */
  write_str(tmp("chars/c"), "ab\r\n%\ncd\n%\n");
  char spec[600];
  snprintf(spec, sizeof spec, "fortunes-chars:c?len=2&test=0.5&dir=%s", tmp("chars"));
  RtDataset tr, te;
  RtError e = {0};
  CHECK(rt_text_load(spec, RT_SPLIT_TRAIN, &tr, &e) == 0);
  CHECK(rt_text_load(spec, RT_SPLIT_TEST, &te, &e) == 0);
  /* Each split is one quote: "xy\n%\n" (CR dropped), 5 bytes: 2 windows. */
  CHECK(tr.x.rank == 2 && tr.x.dims[0] == 2 && tr.x.dims[1] == 2 && tr.y.dims[1] == 2);
  if (tr.x.numel == 4 && te.x.numel == 4) {
    const int32_t *x = tr.x.data, *y = tr.y.data, *tx = te.x.data;
    CHECK((x[0] == 'a' && tx[0] == 'c') || (x[0] == 'c' && tx[0] == 'a'));
    CHECK(x[1] == x[0] + 1 && x[2] == '\n' && x[3] == '%');
    CHECK(y[0] == x[1] && y[1] == '\n' && y[2] == '%' && y[3] == '\n');
  }
  rt_data_free(&tr);
  rt_data_free(&te);
  snprintf(spec, sizeof spec, "fortunes-chars:c?len=5&test=0.5&dir=%s", tmp("chars"));
  CHECK_ERR(rt_text_load(spec, RT_SPLIT_TRAIN, &tr, &e), e, "this split has 5 bytes, too few for one window of len=5");
}

/* Debian's computers category; CI installs the fortunes package. */
static void test_real_computers(void) {
  const char *path = RT_FORTUNES_DIR "/computers";
  if (!rt_file_exists(path)) {
    printf("  (skipped: %s missing; apt-get install fortunes)\n", path);
    return;
  }
  RtQuotes q = {0};
  RtError e = {0};
  CHECK(rt_fortune_read(path, 0, &q, &e) == 0);
  CHECK(q.n > 100);
  printf("  computers: %lld quotes\n", (long long)q.n);
  rt_quotes_free(&q);
  rt_text_set_vocab_checkpoint(NULL);
  CHECK(rt_data_inspect("fortunes:computers,science?len=40&vocab=2000", 2, stdout, &e) == 0);
  CHECK(rt_data_inspect("fortunes-chars:computers?len=64", 1, stdout, &e) == 0);
}

/* "all": the category files of dir (no '.' in the name, no links), sorted. */
static void test_all_spec(void) {
  mkdir(tmp("every"), 0700);
  write_str(tmp("every/zeta"), "z\n%\nzz\n");
  write_str(tmp("every/alpha"), "a\n%\naa\n");
  write_str(tmp("every/alpha.dat"), "index");
  CHECK(symlink("alpha", tmp("every/alpha.u8")) == 0);
  mkdir(tmp("every/sub"), 0700);
  char spec[600];
  RtTextSpec sp;
  RtError e = {0};
  snprintf(spec, sizeof spec, "fortunes-chars:all?len=2&dir=%s", tmp("every"));
  CHECK(rt_text_parse_spec(spec, &sp, &e) == 0);
  CHECK(sp.ncat == 2 && strcmp(sp.cat[0], "alpha") == 0 && strcmp(sp.cat[1], "zeta") == 0);
  snprintf(spec, sizeof spec, "fortunes:all?dir=%s", tmp("every"));
  CHECK(rt_text_parse_spec(spec, &sp, &e) == 0 && sp.ncat == 2); /* two categories: a binary task */
  mkdir(tmp("one"), 0700);
  write_str(tmp("one/only"), "x\n");
  snprintf(spec, sizeof spec, "fortunes:all?dir=%s", tmp("one"));
  CHECK_ERR(rt_text_parse_spec(spec, &sp, &e), e, "needs two or more categories");
  snprintf(spec, sizeof spec, "fortunes-chars:all?dir=%s", tmp("no-such-dir"));
  CHECK_ERR(rt_text_parse_spec(spec, &sp, &e), e, "cannot list");
  mkdir(tmp("none"), 0700);
  snprintf(spec, sizeof spec, "fortunes-chars:all?dir=%s", tmp("none"));
  CHECK_ERR(rt_text_parse_spec(spec, &sp, &e), e, "no fortune files in");
}

/* rm -r of the temporary directory (two levels deep). */
int main(void) {
  static const CheckTest tests[] = {
      {"tokenizer", test_tokenizer}, {"vocab", test_vocab},       {"fortune_files", test_fortune_files},
      {"spec", test_spec},           {"split", test_split},       {"vocab_file", test_vocab_file},
      {"chars", test_chars},         {"all_spec", test_all_spec}, {"real_computers", test_real_computers},
  };
  return check_main(tests, sizeof tests / sizeof tests[0], "nnrt_text");
}
