/* rt_util.c — errors, aligned memory, clocks, strict number parsing and
 * paths: the small things every other runtime module needs. */
#define _POSIX_C_SOURCE 200809L
#if defined(__linux__)
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include <sys/mman.h>
#endif
#include "nnrt.h"
#include "rt_fault.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* Large buffers (data sets, parameters, workspaces) get 2 MiB alignment and
 * transparent huge pages where the kernel offers them: first-touch page
 * faults dominated loading a data set (512x fewer with huge pages), and
 * training loops stream through these buffers, so TLB reach matters too. */
#define HUGE_ALIGN ((size_t)2 << 20)
#define HUGE_MIN ((size_t)8 << 20)

void *rt_alloc(size_t size, const char *what, RtError *e) {
  size_t align = size >= HUGE_MIN ? HUGE_ALIGN : RT_ALIGN;
  /* aligned_alloc wants a multiple of the alignment; 0 bytes still gets a
   * real pointer so callers need no special case. */
  size_t rounded = (size + align - 1) / align * align;
  if (rounded < size) {
    rt_fail(e, RT_EXIT_FAIL, "out of memory: %s needs %zu bytes", what, size);
    return NULL;
  }
  if (rounded == 0) rounded = align;
  void *p = rt_fault_aligned_alloc(align, rounded);
  if (!p) {
    rt_fail(e, RT_EXIT_FAIL, "out of memory: %s needs %zu bytes", what, size);
    return NULL;
  }
#if defined(MADV_HUGEPAGE)
  if (align == HUGE_ALIGN) madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure is harmless */
#endif
  memset(p, 0, rounded);
  return p;
}

void rt_free(void *p) { free(p); }

double rt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int rt_mul64(int64_t a, int64_t b, int64_t *out) {
  if (a < 0 || b < 0) return -1;
  if (a != 0 && b > INT64_MAX / a) return -1;
  *out = a * b;
  return 0;
}

const char *rt_shape_str(char *buf, size_t size, int rank, const int64_t *dims) {
  size_t at = 0;
  if (size == 0) return buf;
  buf[0] = '\0';
  at += (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < rank && at < size; i++)
    at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? ", " : "", (long long)dims[i]);
  if (at < size) snprintf(buf + at, size - at, "]");
  return buf;
}

int rt_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int rt_parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s || *s == '-' || *s == '+') return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

int rt_parse_f64(const char *s, double *out) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

int rt_spec_param(const char **p, const char *s, char *kv, size_t size, const char **value, RtError *e) {
  if (!**p) return 0;
  const char *amp = strchr(*p, '&');
  size_t n = amp ? (size_t)(amp - *p) : strlen(*p);
  if (n >= size) return rt_fail(e, RT_EXIT_USAGE, "'%s': parameter too long", s);
  memcpy(kv, *p, n);
  kv[n] = '\0';
  char *eq = strchr(kv, '=');
  if (!eq) return rt_fail(e, RT_EXIT_USAGE, "'%s': expected KEY=VALUE, got '%s'", s, kv);
  *eq = '\0';
  *value = eq + 1;
  *p += n + (amp ? 1 : 0);
  return 1;
}

int rt_path_join(char *buf, size_t size, const char *dir, const char *name) {
  size_t dl = strlen(dir);
  const char *sep = (dl > 0 && dir[dl - 1] == '/') ? "" : "/";
  int n = snprintf(buf, size, "%s%s%s", dir, sep, name);
  return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int rt_file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int rt_dir_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int write_all(int fd, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = rt_fault_write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Whether name is base + ".tmp." + six mkstemp characters. */
static int is_temp_of(const char *name, const char *base) {
  size_t bl = strlen(base);
  if (strncmp(name, base, bl) != 0 || strncmp(name + bl, ".tmp.", 5) != 0) return 0;
  const char *x = name + bl + 5;
  if (strlen(x) != 6) return 0;
  for (int i = 0; i < 6; i++)
    if (!((x[i] >= 'a' && x[i] <= 'z') || (x[i] >= 'A' && x[i] <= 'Z') || (x[i] >= '0' && x[i] <= '9'))) return 0;
  return 1;
}

int rt_clean_temps(const char *path) {
  size_t plen = strlen(path);
  char *dirbuf = malloc(plen + 1), *basebuf = malloc(plen + 1), *full = malloc(plen + 32);
  int removed = 0;
  if (dirbuf && basebuf && full) {
    memcpy(dirbuf, path, plen + 1);
    memcpy(basebuf, path, plen + 1);
    const char *dir = dirname(dirbuf), *base = basename(basebuf);
    DIR *d = opendir(dir);
    for (struct dirent *ent; d && (ent = readdir(d));) {
      if (!is_temp_of(ent->d_name, base)) continue;
      snprintf(full, plen + 32, "%s/%s", dir, ent->d_name);
      removed += unlink(full) == 0;
    }
    if (d) closedir(d);
  }
  free(dirbuf);
  free(basebuf);
  free(full);
  return removed;
}

/* A write past the file size limit (ulimit -f) raises SIGXFSZ, which
 * kills the process without a word; ignored, the write fails with EFBIG
 * and the error below names the file. */
static void ignore_sigxfsz(void) {
  static int done;
  if (done) return;
  done = 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGXFSZ, &sa, NULL);
}

/* op: the call that failed ("write", "fsync", "close"). */
static int write_failed(RtError *e, const char *path, const char *op, int err) {
  if (err == EFBIG)
    return rt_fail(e, RT_EXIT_FAIL,
                   "%s: cannot write it: the file size limit (ulimit -f) is smaller than the file; %s is unchanged",
                   path, rt_file_exists(path) ? "the previous version" : "nothing was written, and it");
  return rt_fail(e, RT_EXIT_FAIL, "%s: cannot write it (%s: %s); %s", path, op, strerror(err),
                 rt_file_exists(path) ? "the previous version is unchanged" : "nothing was written");
}

int rt_write_atomic_chunks(const char *path, const RtChunk *chunks, int nchunks, RtError *e) {
  size_t plen = strlen(path);
  char *tmp = rt_fault_malloc(plen + 16), *dirbuf = rt_fault_malloc(plen + 1);
  int rc = -1;
  if (!tmp || !dirbuf) {
    rt_fail(e, RT_EXIT_FAIL, "out of memory writing %s", path);
    goto out;
  }
  ignore_sigxfsz();
  /* Temp files a killed writer left behind (between mkstemp and rename)
   * are garbage: the file itself is always whole. */
  rt_clean_temps(path);
  /* Beside the target so rename() stays within one file system. */
  snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
  memcpy(dirbuf, path, plen + 1);
  const char *dir = dirname(dirbuf);
  int fd = rt_fault_mkstemp(tmp);
  if (fd < 0) {
    rt_fail(e, RT_EXIT_FAIL, "%s: cannot create a temporary file in %s: %s", path, dir, strerror(errno));
    goto out;
  }
  int werr = 0;
  for (int i = 0; i < nchunks && !werr; i++)
    werr = write_all(fd, chunks[i].data, chunks[i].n);
  int serr = werr ? 0 : rt_fault_fsync(fd);
  if (werr || serr) {
    int err = errno;
    close(fd);
    unlink(tmp);
    write_failed(e, path, werr ? "write" : "fsync", err);
    goto out;
  }
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmp);
    write_failed(e, path, "close", err);
    goto out;
  }
  /* mkstemp creates 0600; these are ordinary files. */
  mode_t mask = umask(0);
  umask(mask);
  chmod(tmp, 0666 & ~mask);
  if (rt_fault_rename(tmp, path) != 0) {
    int err = errno;
    unlink(tmp);
    rt_fail(e, RT_EXIT_FAIL, "%s: cannot write it (rename from %s: %s); %s", path, tmp, strerror(err),
            rt_file_exists(path) ? "the previous version is unchanged" : "nothing was written");
    goto out;
  }
  /* The rename is durable only once the directory entry is. */
  int dfd = open(dir, O_RDONLY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  rc = 0;
out:
  free(tmp);
  free(dirbuf);
  return rc;
}

int rt_write_atomic(const char *path, const void *data, size_t n, RtError *e) {
  RtChunk c = {data, n};
  return rt_write_atomic_chunks(path, &c, 1, e);
}

int rt_rotate_keep(const char *path, int64_t keep, RtError *e) {
  size_t plen = strlen(path);
  char *from = rt_fault_malloc(plen + 24), *to = rt_fault_malloc(plen + 24);
  int rc = 0;
  if (!from || !to) {
    rc = rt_fail(e, RT_EXIT_FAIL, "out of memory rotating %s", path);
    goto out;
  }
  if (!rt_file_exists(path)) goto out;
  /* Oldest first: F.(K-2) -> F.(K-1), ..., F.1 -> F.2; each rename replaces
   * one whole file with another. */
  for (int64_t i = keep - 2; i >= 1; i--) {
    snprintf(from, plen + 24, "%s.%lld", path, (long long)i);
    snprintf(to, plen + 24, "%s.%lld", path, (long long)(i + 1));
    if (rt_file_exists(from) && rt_fault_rename(from, to) != 0) {
      rc = rt_fail(e, RT_EXIT_FAIL, "--checkpoint-keep: cannot rename %s to %s: %s", from, to, strerror(errno));
      goto out;
    }
  }
  /* F.1 becomes a second name of F's file: F itself stays whole until the
   * new checkpoint's rename replaces it. */
  snprintf(to, plen + 24, "%s.1", path);
  if ((unlink(to) != 0 && errno != ENOENT) || link(path, to) != 0)
    rc = rt_fail(e, RT_EXIT_FAIL, "--checkpoint-keep: cannot link %s to %s: %s", path, to, strerror(errno));
out:
  free(from);
  free(to);
  return rc;
}
