/* rt_fault.c — NNRT_FAULT: fail the Nth open, write, fsync, rename or
 * malloc of the runtime (rt_fault.h says what each op covers). The sweep in
 * tests/hardening/fault_sweep.sh drives it: every injected fault must end
 * the run with a clear error and leave the previous checkpoint whole.
 *
 * State is a few globals: the process has one environment. Counters are
 * atomic because rt_alloc may run on pool threads. */
#define _GNU_SOURCE /* fopencookie */
#include "rt_fault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rt_fault_state;

static const struct {
  const char *name;
  int err; /* what the system says most often when this op fails */
} ops[RT_FAULT_NOPS] = {
    [RT_FAULT_OPEN] = {"open", EMFILE},    [RT_FAULT_WRITE] = {"write", ENOSPC},   [RT_FAULT_FSYNC] = {"fsync", EIO},
    [RT_FAULT_RENAME] = {"rename", EROFS}, [RT_FAULT_MALLOC] = {"malloc", ENOMEM},
};

static const struct {
  const char *name;
  int err;
} errnos[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO},       {"EDQUOT", EDQUOT}, {"EROFS", EROFS}, {"EACCES", EACCES},
              {"EMFILE", EMFILE}, {"ENOMEM", ENOMEM}, {"EFBIG", EFBIG},   {"EINTR", EINTR}, {"EXDEV", EXDEV}};

static int64_t calls[RT_FAULT_NOPS];   /* calls so far */
static int64_t fail_at[RT_FAULT_NOPS]; /* the call to fail, 0: none */
static int fail_errno[RT_FAULT_NOPS];
static int counting;

static const char *errno_name(int err) {
  for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
    if (errnos[i].err == err) return errnos[i].name;
  return "?";
}

static void print_counts(void) {
  fprintf(stderr, "NNRT_FAULT count:");
  for (int k = 0; k < RT_FAULT_NOPS; k++)
    fprintf(stderr, " %s=%lld", ops[k].name, (long long)__atomic_load_n(&calls[k], __ATOMIC_RELAXED));
  fputc('\n', stderr);
}

/* A wrong NNRT_FAULT is a broken test: say so and stop, rather than run a
 * sweep that injects nothing. */
static void bad_spec(const char *spec, const char *why) {
  fprintf(stderr,
          "NNRT_FAULT=%s: %s; expected OP:N[:ERRNO][,...] with OP open, write, fsync, rename or malloc, "
          "or 'count'\n",
          spec, why);
  exit(2);
}

static void parse(const char *spec) {
  if (strcmp(spec, "count") == 0) {
    counting = 1;
    atexit(print_counts);
    return;
  }
  const char *p = spec;
  while (*p) {
    size_t n = strcspn(p, ",");
    char item[64];
    if (n >= sizeof item) bad_spec(spec, "item too long");
    memcpy(item, p, n);
    item[n] = '\0';
    p += n + (p[n] == ',');
    char *num = strchr(item, ':');
    if (!num) bad_spec(spec, "no ':N'");
    *num++ = '\0';
    char *err = strchr(num, ':');
    if (err) *err++ = '\0';
    int k = 0;
    while (k < RT_FAULT_NOPS && strcmp(item, ops[k].name) != 0)
      k++;
    if (k == RT_FAULT_NOPS) bad_spec(spec, "unknown op");
    char *end;
    long long v = strtoll(num, &end, 10);
    if (*end || v < 1) bad_spec(spec, "N is not a positive integer");
    fail_at[k] = v;
    fail_errno[k] = ops[k].err;
    if (err) {
      size_t i = 0;
      while (i < sizeof errnos / sizeof errnos[0] && strcmp(err, errnos[i].name) != 0)
        i++;
      if (i == sizeof errnos / sizeof errnos[0]) bad_spec(spec, "unknown errno name");
      fail_errno[k] = errnos[i].err;
    }
  }
}

int rt_fault_slow(RtFaultOp op) {
  if (rt_fault_state == 0) {
    const char *spec = getenv("NNRT_FAULT");
    if (spec && *spec) parse(spec);
    rt_fault_state = spec && *spec ? 2 : 1;
    if (rt_fault_state == 1) return 0;
  }
  int64_t n = __atomic_add_fetch(&calls[op], 1, __ATOMIC_RELAXED);
  if (counting || n != fail_at[op]) return 0;
  fprintf(stderr, "NNRT_FAULT: failing %s call %lld (%s)\n", ops[op].name, (long long)n, errno_name(fail_errno[op]));
  errno = fail_errno[op];
  return 1;
}

ssize_t rt_fault_write(int fd, const void *data, size_t n) {
  return rt_fault(RT_FAULT_WRITE) ? -1 : write(fd, data, n);
}

int rt_fault_fsync(int fd) { return rt_fault(RT_FAULT_FSYNC) ? -1 : fsync(fd); }

int rt_fault_rename(const char *from, const char *to) { return rt_fault(RT_FAULT_RENAME) ? -1 : rename(from, to); }

int rt_fault_mkstemp(char *tmpl) { return rt_fault(RT_FAULT_OPEN) ? -1 : mkstemp(tmpl); }

/* Under NNRT_FAULT a written FILE is a cookie over its descriptor, so that
 * stdio's flushes are write fault points too. */
static ssize_t cookie_write(void *c, const char *buf, size_t n) {
  int fd = (int)(intptr_t)c;
  size_t done = 0;
  while (done < n) {
    ssize_t w = rt_fault_write(fd, buf + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return done ? (ssize_t)done : -1;
    done += (size_t)w;
  }
  return (ssize_t)done;
}

static ssize_t cookie_read(void *c, char *buf, size_t n) { return read((int)(intptr_t)c, buf, n); }

static int cookie_seek(void *c, off64_t *at, int whence) {
  off_t r = lseek((int)(intptr_t)c, (off_t)*at, whence);
  if (r < 0) return -1;
  *at = r;
  return 0;
}

static int cookie_close(void *c) { return close((int)(intptr_t)c); }

FILE *rt_fault_fopen(const char *path, const char *mode) {
  if (rt_fault(RT_FAULT_OPEN)) return NULL;
  if (rt_fault_state == 1 || mode[0] == 'r') return fopen(path, mode);
  /* "w" or "a", as the runtime's writers open files */
  int flags = O_WRONLY | O_CREAT | (mode[0] == 'a' ? O_APPEND : O_TRUNC);
  int fd = open(path, flags, 0666);
  if (fd < 0) return NULL;
  cookie_io_functions_t io = {cookie_read, cookie_write, cookie_seek, cookie_close};
  FILE *f = fopencookie((void *)(intptr_t)fd, mode, io);
  if (!f) close(fd);
  return f;
}

void *rt_fault_malloc(size_t n) { return rt_fault(RT_FAULT_MALLOC) ? NULL : malloc(n); }
void *rt_fault_calloc(size_t n, size_t size) { return rt_fault(RT_FAULT_MALLOC) ? NULL : calloc(n, size); }
void *rt_fault_realloc(void *p, size_t n) { return rt_fault(RT_FAULT_MALLOC) ? NULL : realloc(p, n); }
void *rt_fault_aligned_alloc(size_t align, size_t n) {
  return rt_fault(RT_FAULT_MALLOC) ? NULL : aligned_alloc(align, n);
}
