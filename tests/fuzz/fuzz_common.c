/* fuzz_common.c — the temporary directory and in-memory streams of the
 * fuzz harnesses (fuzz.h). */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"
#include "runtime/nnrt.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[4096];

static void remove_dir(void) {
  if (!g_dir[0]) return;
  fuzz_clean();
  rmdir(g_dir);
}

const char *fuzz_tmpdir(void) {
  if (!g_dir[0]) {
    const char *t = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/nnc-fuzz.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(g_dir)) {
      perror("fuzz: mkdtemp");
      abort();
    }
    atexit(remove_dir);
  }
  return g_dir;
}

const char *fuzz_path(const char *name) {
  static char buf[4][sizeof g_dir + 256]; /* the directory, "/", a file name */
  static int slot;
  char *p = buf[slot++ & 3];
  snprintf(p, sizeof buf[0], "%s/%s", fuzz_tmpdir(), name);
  return p;
}

const char *fuzz_write(const char *name, const void *data, size_t size) {
  const char *p = fuzz_path(name);
  FILE *f = fopen(p, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror(p);
    abort();
  }
  return p;
}

void fuzz_clean(void) {
  DIR *d = opendir(fuzz_tmpdir());
  if (!d) return;
  for (struct dirent *de; (de = readdir(d));)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) unlink(fuzz_path(de->d_name));
  closedir(d);
}

void fuzz_out_open(FuzzOut *o) {
  o->buf = NULL;
  o->len = 0;
  o->f = open_memstream(&o->buf, &o->len);
  if (!o->f) abort();
}

const char *fuzz_out_text(FuzzOut *o) {
  fflush(o->f);
  return o->buf ? o->buf : "";
}

void fuzz_out_close(FuzzOut *o) {
  fclose(o->f);
  free(o->buf);
  o->f = NULL, o->buf = NULL, o->len = 0;
}

void fuzz_bug(const char *what, const char *detail) {
  fprintf(stderr, "fuzz: %s\n%s\n", what, detail ? detail : "");
  abort();
}

void fuzz_check_error(const RtError *e) {
  if (!e->msg[0] || e->code == 0) fuzz_bug("a loader failed without a message or an exit code", e->msg);
}
