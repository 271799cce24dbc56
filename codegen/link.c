/* link.c — turns a model object into a standalone binary with the system C
 * compiler driver:
 *
 *   cc OBJ [libnnrt.a] [extra...] -lopenblas -lz -lm -lpthread -o EXE
 *
 * The driver is run with posix_spawnp (no shell: paths with spaces or
 * quotes pass through untouched). extra_libs is split on blanks into more
 * arguments. On failure the error names the command and how it ended; the
 * driver's own messages (ld's "undefined reference", say) go to stderr
 * before it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "backend.h"

extern char **environ;

static bool link_error(const CgOptions *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool link_error(const CgOptions *o, const char *fmt, ...) {
  char msg[4600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (o->diag)
    diag_fatal(o->diag, "%s", msg);
  else
    fprintf(stderr, "nnc: error: %s\n", msg);
  return false;
}

bool cg_link(const char *obj, const char *exe, const char *extra_libs, const CgOptions *o) {
  static const char *const libs[] = {"-lopenblas", "-lz", "-lm", "-lpthread", "-o"};
  enum { NLIBS = sizeof libs / sizeof *libs };
  char *extra = strdup(extra_libs ? extra_libs : "");
  /* driver, obj, runtime, the extra tokens (fewer than its characters),
   * libs, exe, NULL */
  size_t cap = 5 + NLIBS + (extra ? strlen(extra) : 0);
  const char **argv = malloc(sizeof *argv * cap);
  if (!extra || !argv) {
    free(extra), free(argv);
    return link_error(o, "out of memory linking %s", exe);
  }
  size_t n = 0;
  argv[n++] = o->cc && *o->cc ? o->cc : "cc";
  argv[n++] = obj;
  if (o->runtime_lib && *o->runtime_lib) argv[n++] = o->runtime_lib;
  for (char *save = NULL, *t = strtok_r(extra, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
    argv[n++] = t;
  for (size_t i = 0; i < NLIBS; i++)
    argv[n++] = libs[i];
  argv[n++] = exe;
  argv[n] = NULL;

  /* The command line, for --verbose and for errors. */
  char cmd[4096];
  size_t k = 0;
  for (size_t i = 0; i < n && k < sizeof cmd; i++)
    k += (size_t)snprintf(cmd + k, sizeof cmd - k, "%s%s", i ? " " : "", argv[i]);
  if (o->verbose) fprintf(stderr, "%s\n", cmd);

  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], NULL, NULL, (char *const *)argv, environ);
  const char *driver = argv[0];
  free(argv);
  free(extra);
  if (rc != 0) return link_error(o, "cannot run the linker '%s': %s (command: %s)", driver, strerror(rc), cmd);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return link_error(o, "lost the linker process: %s (command: %s)", strerror(errno), cmd);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  if (WIFEXITED(status)) return link_error(o, "linking failed: `%s` exited with status %d", cmd, WEXITSTATUS(status));
  return link_error(o, "linking failed: `%s` was killed by signal %d", cmd,
                    WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}
