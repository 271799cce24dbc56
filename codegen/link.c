/* link.c — turns a model object into a standalone binary with the system C
 * compiler driver:
 *
 *   cc OBJ [libnnrt.a] [extra...] -lopenblas -lz -lm -lpthread -o EXE
 *
 * The driver is run with posix_spawnp (no shell: paths with spaces or
 * quotes pass through untouched). extra_libs is split on blanks into more
 * arguments. On failure the error names the command and how it ended. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "backend.h"

extern char **environ;

static void report(const CgOptions *o, const char *fmt, const char *cmd, int code) {
  char msg[4200];
  snprintf(msg, sizeof msg, fmt, cmd, code);
  if (o->diag)
    diag_fatal(o->diag, "%s", msg);
  else
    fprintf(stderr, "nnc: error: %s\n", msg);
}

bool cg_link(const char *obj, const char *exe, const char *extra_libs, const CgOptions *o) {
  char *extra = strdup(extra_libs ? extra_libs : "");
  const char *argv[64];
  int n = 0;
  argv[n++] = o->cc && *o->cc ? o->cc : "cc";
  argv[n++] = obj;
  if (o->runtime_lib && *o->runtime_lib) argv[n++] = o->runtime_lib;
  for (char *save = NULL, *t = extra ? strtok_r(extra, " \t", &save) : NULL; t && n < 50;
       t = strtok_r(NULL, " \t", &save))
    argv[n++] = t;
  static const char *const libs[] = {"-lopenblas", "-lz", "-lm", "-lpthread", "-o"};
  for (size_t i = 0; i < sizeof libs / sizeof *libs; i++)
    argv[n++] = libs[i];
  argv[n++] = exe;
  argv[n] = NULL;

  /* The command line, for --verbose and for errors. */
  char cmd[4096];
  size_t k = 0;
  for (int i = 0; i < n && k < sizeof cmd; i++)
    k += (size_t)snprintf(cmd + k, sizeof cmd - k, "%s%s", i ? " " : "", argv[i]);
  if (o->verbose) fprintf(stderr, "%s\n", cmd);

  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], NULL, NULL, (char *const *)argv, environ);
  free(extra);
  if (rc != 0) {
    char fmt[256];
    snprintf(fmt, sizeof fmt, "cannot run the linker: %%s (%s, code %%d)", strerror(rc));
    report(o, fmt, cmd, rc);
    return false;
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      report(o, "lost the linker process: %s (%d)", cmd, errno);
      return false;
    }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  if (WIFEXITED(status))
    report(o, "linking failed: `%s` exited with status %d", cmd, WEXITSTATUS(status));
  else
    report(o, "linking failed: `%s` was killed by signal %d", cmd, WIFSIGNALED(status) ? WTERMSIG(status) : -1);
  return false;
}
