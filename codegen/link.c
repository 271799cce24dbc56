/* link.c — turns a model object into a standalone binary with the system C
 * compiler driver:
 *
 *   cc OBJ... [runtime] [extra...] [the backend's link libraries] -o EXE
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

bool cg_link(const Backend *be, const char *const *objs, int nobjs, const char *exe, const char *extra_libs,
             const CgOptions *o) {
  /* The extra arguments, then the backend's libraries: one string split on
   * blanks below. */
  size_t elen = extra_libs ? strlen(extra_libs) : 0, llen = be->link_libs ? strlen(be->link_libs) : 0;
  char *extra = malloc(elen + llen + 2);
  if (extra) snprintf(extra, elen + llen + 2, "%s %s", extra_libs ? extra_libs : "", be->link_libs ? be->link_libs : "");
  /* driver, the objects, runtime, the tokens (fewer than their
   * characters), -o, exe, NULL */
  size_t cap = 5 + (size_t)nobjs + (extra ? strlen(extra) : 0);
  const char **argv = malloc(sizeof *argv * cap);
  if (!extra || !argv) {
    free(extra), free(argv);
    return link_error(o, "out of memory linking %s", exe);
  }
  size_t n = 0;
  argv[n++] = o->cc && *o->cc ? o->cc : "cc";
  for (int i = 0; i < nobjs; i++) argv[n++] = objs[i];
  if (o->runtime_lib && *o->runtime_lib) argv[n++] = o->runtime_lib;
  for (char *save = NULL, *t = strtok_r(extra, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
    argv[n++] = t;
  argv[n++] = "-o";
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
