/* check.c — see check.h. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

int g_failed_checks;
char g_tmp[256];

const char *tmp(const char *name) {
  static char buf[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, name);
  return buf[k];
}

void write_file(const char *path, const void *data, size_t n) {
  unlink(path);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fwrite(data, 1, n, f);
  fclose(f);
}

void write_str(const char *path, const char *s) { write_file(path, s, strlen(s)); }

void write_gz(const char *path, const void *data, size_t n) {
  gzFile g = gzopen(path, "wb");
  gzwrite(g, data, (unsigned)n);
  gzclose(g);
}

unsigned char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(*n + 1);
  if (fread(p, 1, *n, f) != *n) *n = 0;
  p[*n] = 0;
  fclose(f);
  return p;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *ent;
  while ((ent = readdir(d))) {
    if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, ent->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      remove_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

int check_main(const CheckTest *tests, size_t n, const char *prefix) {
  const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(g_tmp, sizeof g_tmp, "%s/%s.XXXXXX", base, prefix);
  if (!mkdtemp(g_tmp)) {
    perror("mkdtemp");
    return 1;
  }
  int passed = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    int before = g_failed_checks;
    double t0 = rt_now();
    tests[i].fn();
    int ok = g_failed_checks == before;
    printf("%-24s %s (%.2fs)\n", tests[i].name, ok ? "ok" : "FAILED", rt_now() - t0);
    ok ? passed++ : failed++;
  }
  remove_tree(g_tmp);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
