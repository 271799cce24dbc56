/* rt_data.c — data sets: IDX files (MNIST, Fashion-MNIST), gzip or plain, and
 * directories of .npy files.
 *
 * IDX: bytes 0-1 zero, byte 2 the element type (0x08 = unsigned byte),
 * byte 3 the number of dimensions, then one big-endian u32 per dimension,
 * then the data in C order. zlib's gzread reads gzip and plain files alike.
 * A gzip file's uncompressed size is unknown until the end, so the data is
 * read in chunks into a buffer that grows only as bytes actually arrive: a
 * header that lies about its size fails with "file ends after" instead of a
 * giant allocation.
 *
 * A "directory" that is a text data-set spec (fortunes:...) goes to
 * rt_textdata.c instead, a CSV file (or a directory holding train.csv and
 * test.csv) to rt_csv.c. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include "rt_fault.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A short read: a corrupt gzip stream (zlib says why; it may notice only
 * at the end of the stream, so `offset` is where the read started), else
 * the file ended (`what` says where). Offsets count uncompressed bytes. */
static int gz_fail(RtError *e, gzFile gz, const char *path, uint64_t offset, const char *what) {
  int zerr = 0;
  const char *msg = gzerror(gz, &zerr);
  if (zerr != Z_OK && zerr != Z_BUF_ERROR) {
    size_t pl = strlen(path); /* zlib's message starts with the path */
    if (strncmp(msg, path, pl) == 0 && strncmp(msg + pl, ": ", 2) == 0) msg += pl + 2;
    return rt_fail(e, RT_EXIT_USAGE, "%s: offset %llu: corrupt gzip data: %s", path, (unsigned long long)offset, msg);
  }
  return rt_fail(e, RT_EXIT_USAGE, "%s: offset %llu: %s", path, (unsigned long long)offset, what);
}

/* Reads up to n bytes; returns how many (gzread takes unsigned counts). */
static int64_t gz_read(gzFile gz, void *buf, int64_t n) {
  int64_t done = 0;
  while (done < n) {
    int64_t want = n - done > (1 << 30) ? (1 << 30) : n - done;
    int r = gzread(gz, (char *)buf + done, (unsigned)want);
    if (r <= 0) break;
    done += r;
  }
  return done;
}

int rt_idx_load(const char *path, int as, RtArray *out, RtError *e) {
  memset(out, 0, sizeof *out);
  snprintf(out->path, sizeof out->path, "%s", path);
  gzFile gz = rt_fault(RT_FAULT_OPEN) ? NULL : gzopen(path, "rb"); /* a fault point as rt_fault_fopen is */
  if (!gz) return rt_fail(e, RT_EXIT_USAGE, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
  gzbuffer(gz, 1 << 17);
  int rc = -1;
  unsigned char *raw = NULL;
  unsigned char head[4 + 4 * NNRT_MAX_RANK];
  if (gz_read(gz, head, 4) != 4) {
    gz_fail(e, gz, path, 0, "expected a 4-byte IDX magic number, file too short");
    goto out;
  }
  unsigned magic = (unsigned)head[0] << 24 | head[1] << 16 | head[2] << 8 | head[3];
  if (head[0] != 0 || head[1] != 0 || head[3] == 0 || head[3] > NNRT_MAX_RANK) {
    rt_fail(e, RT_EXIT_USAGE,
            "%s: offset 0: bad magic number 0x%08x; expected an IDX file (0x000008NN, NN = 01..06 dimensions)", path,
            magic);
    goto out;
  }
  if (head[2] != 0x08) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset 2: IDX element type 0x%02x is not supported; expected 0x08 (unsigned byte)",
            path, head[2]);
    goto out;
  }
  int rank = head[3];
  if (gz_read(gz, head + 4, 4 * rank) != 4 * rank) {
    gz_fail(e, gz, path, 4, "file ends inside the dimension sizes");
    goto out;
  }
  int64_t numel = 1;
  for (int i = 0; i < rank; i++) {
    const unsigned char *d = head + 4 + 4 * i;
    out->dims[i] = (int64_t)((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3]);
    if (rt_mul64(numel, out->dims[i], &numel)) {
      rt_fail(e, RT_EXIT_USAGE, "%s: offset %d: dimensions too large", path, 4 + 4 * i);
      goto out;
    }
  }
  out->rank = rank;
  int64_t dstart = 4 + 4 * rank, have = 0, cap = 0;
  out->shape_offset = 4;
  out->data_offset = dstart;
  out->elem_bytes = 1;
  while (have < numel) {
    if (have == cap) {
      int64_t next = cap ? cap * 2 : (1 << 20);
      if (next > numel) next = numel;
      unsigned char *p = rt_fault_realloc(raw, (size_t)next);
      if (!p) {
        rt_fail(e, RT_EXIT_FAIL, "out of memory reading %s", path);
        goto out;
      }
      raw = p;
      cap = next;
    }
    int64_t r = gz_read(gz, raw + have, cap - have);
    have += r;
    if (r < cap - (have - r)) break;
  }
  if (have < numel) {
    char sh[160], msg[256];
    rt_shape_str(sh, sizeof sh, rank, out->dims);
    snprintf(msg, sizeof msg, "expected %lld bytes of data for shape %s, file ends after %lld", (long long)numel, sh,
             (long long)have);
    gz_fail(e, gz, path, (uint64_t)dstart, msg);
    goto out;
  }
  /* One more read: it must find the end, and for gzip that is where zlib
   * checks the trailer's CRC-32 and length against the data. */
  unsigned char extra;
  int last = gzread(gz, &extra, 1);
  if (last > 0) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset %lld: data continues past the %lld bytes the header announces", path,
            (long long)(dstart + numel), (long long)numel);
    goto out;
  }
  if (last < 0) {
    gz_fail(e, gz, path, (uint64_t)(dstart + numel), "corrupt gzip stream after the data");
    goto out;
  }
  out->numel = numel;
  out->dtype = as == RT_IDX_F32 ? NNRT_F32 : as == RT_IDX_PIXELS ? NNRT_U8 : NNRT_I32;
  if (as == RT_IDX_PIXELS) { /* the bytes are the data: keep them */
    out->data = raw, raw = NULL;
    out->scale = 1.0f / 255.0f;
    rc = 0;
    goto out;
  }
  out->data = rt_alloc((size_t)numel * rt_dtype_size(out->dtype), path, e);
  if (!out->data) goto out;
  if (as == RT_IDX_F32) {
    rt_widen_pixels(out->data, raw, numel, 1.0f / 255.0f);
  } else {
    int32_t *v = out->data;
    for (int64_t i = 0; i < numel; i++)
      v[i] = raw[i];
  }
  rc = 0;
out:
  free(raw);
  gzclose(gz);
  if (rc) rt_array_free(out);
  return rc;
}

/* A bare name (letters, digits, '_', '-') names an installed data set;
 * anything else (a '/', a '.', a spec) is a path or spec, used as given:
 * relative paths are relative to the working directory. */
static int is_bare_name(const char *s) {
  for (; *s; s++)
    if (!rt_text_is_word_char((unsigned char)*s) && *s != '_' && *s != '-') return 0;
  return 1;
}

const char *rt_data_default_dir(const char *dataset, char *buf, size_t size) {
  /* Debian's dataset-<name> packages install to /usr/share/datasets/<name>,
   * with '-' where the model's name has '_' (fashion_mnist -> fashion-mnist).
   * Anything but a bare name (is_bare_name) is a path or a spec, taken as it
   * is: absolute, or relative to the working directory, like --data. */
  if (!dataset || !*dataset) return NULL;
  if (!is_bare_name(dataset)) { /* a path or a spec names itself */
    int n = snprintf(buf, size, "%s", dataset);
    return n < 0 || (size_t)n >= size ? NULL : buf;
  }
  int n = snprintf(buf, size, "/usr/share/datasets/%s", dataset);
  if (n < 0 || (size_t)n >= size) return NULL;
  for (char *c = buf + strlen("/usr/share/datasets/"); *c; c++)
    if (*c == '_') *c = '-';
  return buf;
}

const char *rt_data_dir(const char *given, const char *dataset, char *buf, size_t size, RtError *e) {
  if (given) return given;
  if (!rt_data_default_dir(dataset, buf, size)) {
    rt_fail(e, RT_EXIT_USAGE,
            "the model names no data set (its train block has no 'data' line); give one with --data DIR");
    return NULL;
  }
  return buf;
}

/* "dir/name.gz" if it exists, else "dir/name" (which may not exist: the
 * loader then reports it). */
static int idx_path(char *buf, size_t size, const char *dir, const char *name) {
  char gzname[128];
  snprintf(gzname, sizeof gzname, "%s.gz", name);
  if (rt_path_join(buf, size, dir, gzname) == 0 && rt_file_exists(buf)) return 0;
  return rt_path_join(buf, size, dir, name);
}

static int too_long(RtError *e, const char *dir) { return rt_fail(e, RT_EXIT_USAGE, "%s: path too long", dir); }

static int convert(RtDataset *d, int32_t x_dtype, int32_t y_dtype, RtError *e) {
  if (x_dtype == RT_DTYPE_F32_COMPACT) x_dtype = d->x.scale > 0 ? RT_DTYPE_AS_STORED : NNRT_F32;
  return (x_dtype != RT_DTYPE_AS_STORED && rt_array_convert(&d->x, x_dtype, e)) ||
                 (y_dtype != RT_DTYPE_AS_STORED && rt_array_convert(&d->y, y_dtype, e))
             ? -1
             : 0;
}

int rt_data_load(const char *dir, int split, int32_t x_dtype, int32_t y_dtype, RtDataset *d, RtError *e) {
  memset(d, 0, sizeof *d);
  if (rt_text_is_spec(dir)) {
    if (rt_text_load(dir, split, d, e)) return -1;
    if (convert(d, x_dtype, y_dtype, e)) goto fail;
    return 0;
  }
  if (rt_csv_is_spec(dir) || rt_csv_is_dir(dir)) {
    if (rt_csv_load(dir, split, y_dtype, d, e) || convert(d, x_dtype, y_dtype, e)) goto fail;
    return 0;
  }
  if (!rt_dir_exists(dir))
    return rt_fail(e, RT_EXIT_USAGE,
                   "%s: no such directory (set the data set with --data DIR, --data FILE.csv or a text spec)", dir);
  const char *pre = split == RT_SPLIT_TRAIN ? "train" : "test";
  char xp[RT_PATH_MAX], yp[RT_PATH_MAX], name[64];
  snprintf(name, sizeof name, "%s_x.npy", pre);
  if (rt_path_join(xp, sizeof xp, dir, name)) return too_long(e, dir);
  int is_npy = rt_file_exists(xp);
  if (is_npy) {
    snprintf(name, sizeof name, "%s_y.npy", pre);
    if (rt_path_join(yp, sizeof yp, dir, name)) return too_long(e, dir);
    if (rt_npy_load(xp, &d->x, e) || rt_npy_load(yp, &d->y, e)) goto fail;
  } else {
    const char *xi = split == RT_SPLIT_TRAIN ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte";
    const char *yi = split == RT_SPLIT_TRAIN ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte";
    if (idx_path(xp, sizeof xp, dir, xi) || idx_path(yp, sizeof yp, dir, yi)) return too_long(e, dir);
    if (!rt_file_exists(xp))
      return rt_fail(e, RT_EXIT_USAGE,
                     "%s: no data: expected %s_x.npy and %s_y.npy, %s.csv, or %s.gz and %s.gz (IDX files)", dir, pre,
                     pre, pre, xi, yi);
    int as = x_dtype == RT_DTYPE_F32_COMPACT ? RT_IDX_PIXELS : RT_IDX_F32;
    if (rt_idx_load(xp, as, &d->x, e) || rt_idx_load(yp, RT_IDX_INT, &d->y, e)) goto fail;
  }
  if (d->x.rank < 1 || d->y.rank < 1) {
    const RtArray *a = d->x.rank < 1 ? &d->x : &d->y;
    rt_fail(e, RT_EXIT_USAGE, "%s: expected an array with a sample dimension, found a scalar", a->path);
    goto fail;
  }
  if (d->x.dims[0] != d->y.dims[0]) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset %lld: expected %lld labels (one per sample of %s), found %lld", d->y.path,
            (long long)d->y.shape_offset, (long long)d->x.dims[0], d->x.path, (long long)d->y.dims[0]);
    goto fail;
  }
  if (d->x.dims[0] == 0) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset %lld: expected at least one sample, found 0", d->x.path,
            (long long)d->x.shape_offset);
    goto fail;
  }
  if (d->x.dims[0] > INT32_MAX) {
    rt_fail(e, RT_EXIT_USAGE, "%s: %lld samples; at most %d are supported", d->x.path, (long long)d->x.dims[0],
            INT32_MAX);
    goto fail;
  }
  if (convert(d, x_dtype, y_dtype, e) || rt_check_finite(&d->x, "feature", e) || rt_check_finite(&d->y, "label", e))
    goto fail;
  return 0;
fail:
  rt_data_free(d);
  return -1;
}

void rt_data_free(RtDataset *d) {
  rt_array_free(&d->x);
  rt_array_free(&d->y);
}
