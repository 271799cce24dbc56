/* fuzz_textdata.c — the data sets named by a spec or made of text files:
 * fortune files, the word tokenizer and vocabularies (runtime/rt_text.c),
 * the fortunes: and fortunes-chars: specs and their splits (rt_textdata.c),
 * CSV files and specs (rt_csv.c). The input is a spec line, then up to five
 * files separated by lines "@@":
 *
 *   fortunes:a,b?len=8&vocab=50     (or fortunes-chars:..., or csv?label=y&test=0.5, or csvdir?label=y)
 *   <file a>  @@  <file b>  @@  <file c>  @@  <vocabulary file>  @@  <predict input>
 *
 * The files land in the harness's temporary directory as a, b, c (fortune
 * categories; a spec's dir= is replaced by that directory), a.csv (csv: the
 * file the spec names), train.csv and test.csv (csvdir: a directory of
 * both), ckpt.vocab.txt (the vocabulary beside a checkpoint ckpt, which does
 * not exist: how older checkpoints kept it; absent: built) and lines.txt (predict's --input). Then the `data`
 * command's inspection (both splits, class names, samples) and predict's
 * reading of its input run on them. */
#include "fuzz.h"
#include "nnrt.h"
#include <string.h>

#define TEXT_MAX_INPUT (64 << 10)
#define TEXT_MAX_LEN 4096 /* len= beyond this only makes the fuzzer allocate */

enum { P_A, P_B, P_C, P_VOCAB, P_LINES, NPARTS };

typedef struct Part {
  const char *s;
  size_t n;
  int present;
} Part;

/* Splits s[0..n) at "\n@@\n" into parts[0..NPARTS). */
static void split(const char *s, size_t n, Part *parts) {
  for (int i = 0; i < NPARTS; i++) {
    parts[i] = (Part){s, 0, n > 0 || i == 0};
    const char *sep = NULL;
    for (const char *p = s; p + 4 <= s + n; p++)
      if (!memcmp(p, "\n@@\n", 4)) {
        sep = p;
        break;
      }
    if (!sep) {
      parts[i].n = n;
      for (int k = i + 1; k < NPARTS; k++)
        parts[k] = (Part){s + n, 0, 0};
      return;
    }
    parts[i].n = (size_t)(sep - s);
    parts[i].present = 1;
    n -= (size_t)(sep + 4 - s);
    s = sep + 4;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > TEXT_MAX_INPUT) return 0;
  const char *s = (const char *)data, *nl = memchr(s, '\n', size);
  size_t speclen = nl ? (size_t)(nl - s) : size;
  if (speclen > 512 || memchr(s, '\0', speclen)) return 0;
  char raw[600], spec[1200];
  memcpy(raw, s, speclen);
  raw[speclen] = '\0';
  Part parts[NPARTS];
  split(nl ? nl + 1 : s + size, nl ? size - speclen - 1 : 0, parts);
  fuzz_clean();
  rt_csv_set_label_column(NULL);
  static char ckpt_path[4200];
  snprintf(ckpt_path, sizeof ckpt_path, "%s", fuzz_path("ckpt"));
  rt_text_set_vocab_checkpoint(ckpt_path); /* no file ckpt: its older-style ckpt.vocab.txt */
  if (parts[P_VOCAB].present) fuzz_write("ckpt.vocab.txt", parts[P_VOCAB].s, parts[P_VOCAB].n);
  const char *lines = fuzz_write("lines.txt", parts[P_LINES].s, parts[P_LINES].n);
  const char *q = strchr(raw, '?');
  int text = rt_text_is_spec(raw), csvdir = !strncmp(raw, "csvdir", 6), csv = !csvdir && !strncmp(raw, "csv", 3);
  if (text) {
    static const char *const names[] = {"a", "b", "c"};
    for (int i = P_A; i <= P_C; i++)
      if (parts[i].present) fuzz_write(names[i], parts[i].s, parts[i].n);
    snprintf(spec, sizeof spec, "%s%sdir=%s", raw, q ? "&" : "?", fuzz_tmpdir());
    RtTextSpec sp;
    RtError e = {0};
    if (rt_text_parse_spec(spec, &sp, &e) == 0 && sp.len > TEXT_MAX_LEN) return 0;
  } else if (csv) {
    fuzz_write("a.csv", parts[P_A].s, parts[P_A].n);
    snprintf(spec, sizeof spec, "%s%s", fuzz_path("a.csv"), q ? q : "");
  } else if (csvdir) {
    fuzz_write("train.csv", parts[P_A].s, parts[P_A].n);
    if (parts[P_B].present) fuzz_write("test.csv", parts[P_B].s, parts[P_B].n);
    static RtCsvSpec sp; /* --label-column keeps the pointer */
    RtError e = {0};
    snprintf(spec, sizeof spec, "x.csv%s", q ? q : "");
    if (rt_csv_parse_spec(spec, &sp, &e)) return 0;
    rt_csv_set_label_column(sp.label[0] ? sp.label : NULL);
    snprintf(spec, sizeof spec, "%s", fuzz_tmpdir());
  } else {
    return 0;
  }
  FuzzOut out;
  fuzz_out_open(&out);
  RtError e = {0};
  if (rt_data_inspect(spec, 3, out.f, &e)) fuzz_check_error(&e);
  RtArray x;
  e = (RtError){0};
  if (text) {
    if (rt_text_read_lines(spec, lines, &x, &e) == 0) rt_array_free(&x);
    else fuzz_check_error(&e);
  } else {
    RtNames names;
    if (rt_csv_read(lines, rt_csv_label_column(csv ? spec : NULL), RT_DTYPE_AS_STORED, &x, NULL, &names, &e) == 0) {
      rt_array_free(&x);
      rt_names_free(&names);
    } else {
      fuzz_check_error(&e);
    }
  }
  fuzz_out_close(&out);
  return 0;
}
