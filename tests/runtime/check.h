/* check.h — the small harness shared by libnnrt's test programs: CHECK
 * macros that count failures, a fresh temporary directory per run, file
 * helpers, and a main loop printing one line per test function and the
 * closing "N passed, N failed". */
#ifndef NNRT_TEST_CHECK_H
#define NNRT_TEST_CHECK_H
#include "nnrt.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

extern int g_failed_checks;
extern char g_tmp[256]; /* this run's temporary directory */

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      g_failed_checks++;                                                                                               \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                                        \
    }                                                                                                                  \
  } while (0)

/* An error whose message contains `part`. */
#define CHECK_ERR(rc, e, part)                                                                                         \
  do {                                                                                                                 \
    CHECK((rc) == -1);                                                                                                 \
    if (!strstr((e).msg, (part))) {                                                                                    \
      g_failed_checks++;                                                                                               \
      fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, (e).msg, (part));                 \
    }                                                                                                                  \
  } while (0)

/* g_tmp/name, in one of four rotating buffers. */
const char *tmp(const char *name);
/* A new file (not a truncated one: ext4 flushes a file truncated and
 * rewritten on close, which makes loops crawl); exits on failure. */
void write_file(const char *path, const void *data, size_t n);
void write_str(const char *path, const char *s);
void write_gz(const char *path, const void *data, size_t n);
/* The whole file (malloc'd, NUL-terminated), or NULL. */
unsigned char *read_file(const char *path, size_t *n);

typedef struct CheckTest {
  const char *name;
  void (*fn)(void);
} CheckTest;

/* Makes $TMPDIR/<prefix>.XXXXXX, runs the tests, removes the directory,
 * prints the closing line; returns the exit status. */
int check_main(const CheckTest *tests, size_t n, const char *prefix);

#endif
