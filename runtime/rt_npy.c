/* rt_npy.c — NumPy .npy files (format versions 1, 2 and 3) and RtArray.
 *
 * Format: "\x93NUMPY", major, minor, header length (u16 LE for v1, u32 LE
 * for v2/v3), then a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }
 * padded with spaces and a newline, then the raw data. We parse that literal
 * ourselves (it is a tiny grammar) and read the data only after checking that
 * the file holds all of it, so a lying header cannot make us allocate. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include "rt_fault.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void rt_array_free(RtArray *a) {
  rt_free(a->data);
  rt_free(a->line);
  a->data = NULL;
  a->line = NULL;
  a->numel = 0;
}

int rt_array_alloc(RtArray *a, const char *path, int32_t dtype, int rank, int64_t d0, int64_t d1, int lines,
                   RtError *e) {
  memset(a, 0, sizeof *a);
  snprintf(a->path, sizeof a->path, "%s", path);
  a->dtype = dtype;
  a->rank = rank;
  a->dims[0] = d0;
  a->dims[1] = d1;
  if (rt_mul64(d0, rank > 1 ? d1 : 1, &a->numel)) return rt_fail(e, RT_EXIT_USAGE, "'%s': data set too large", path);
  a->elem_bytes = lines ? 0 : (int32_t)rt_dtype_size(dtype); /* a text file's messages give lines, not offsets */
  size_t es = rt_dtype_size(dtype);
  if (a->numel > 0 && (size_t)a->numel > SIZE_MAX / es)
    return rt_fail(e, RT_EXIT_USAGE, "'%s': data set too large", path);
  a->data = rt_alloc((size_t)(a->numel > 0 ? a->numel : 1) * es, path, e);
  if (lines) a->line = rt_alloc((size_t)(d0 > 0 ? d0 : 1) * sizeof *a->line, path, e);
  if (!a->data || (lines && !a->line)) {
    rt_array_free(a);
    return -1;
  }
  return 0;
}

const char *rt_array_where(const RtArray *a, int64_t i, char *buf, size_t size) {
  int64_t per = a->dims[0] > 0 ? a->numel / a->dims[0] : 1;
  if (a->line && per > 0 && i >= 0 && i / per < a->dims[0])
    snprintf(buf, size, "%s:%lld", a->path, (long long)a->line[i / per]);
  else if (a->line) /* a text file's shape: no one place */
    snprintf(buf, size, "%s", a->path);
  else if (i < 0)
    snprintf(buf, size, "%s: offset %lld", a->path, (long long)a->shape_offset);
  else
    snprintf(buf, size, "%s: offset %lld", a->path, (long long)(a->data_offset + i * a->elem_bytes));
  return buf;
}

/* In blocks of a fixed 16, which the compiler's cheapest vectorization
 * takes at -O2 (a loop of unknown count it leaves scalar): the batch
 * staging widened each pixel through a table before, 0.08 ms of the MLP's
 * 1.2 ms step at batch 256 on one thread. */
void rt_widen_pixels(float *restrict dst, const uint8_t *restrict src, int64_t n, float scale) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int t = 0; t < 16; t++)
      dst[j + t] = (float)src[j + t] * scale;
  for (; j < n; j++)
    dst[j] = (float)src[j] * scale;
}

/* Any type to any: every element is checked before any is written (an
 * integer type must hold it exactly), so a failure leaves a as it was. */
int rt_array_convert(RtArray *a, int32_t dtype, RtError *e) {
  if (a->scale > 0) { /* pixels: F32 first, as rt_idx_load makes them */
    float *f = rt_alloc((size_t)(a->numel > 0 ? a->numel : 1) * sizeof(float), a->path, e);
    if (!f) return -1;
    rt_widen_pixels(f, a->data, a->numel, a->scale);
    rt_free(a->data);
    a->data = f, a->dtype = NNRT_F32, a->scale = 0;
  }
  if (a->dtype == dtype) return 0;
  size_t from = rt_dtype_size(a->dtype), to = rt_dtype_size(dtype);
  if (!from || !to)
    return rt_fail(e, RT_EXIT_FAIL, "%s: cannot convert %s to %s", a->path, rt_dtype_name(a->dtype),
                   rt_dtype_name(dtype));
  for (int64_t i = 0; i < a->numel; i++) {
    double v = rt_dtype_get(a->dtype, a->data, i);
    if (!rt_dtype_holds(dtype, v))
      return rt_fail(e, RT_EXIT_USAGE,
                     "%s: element %lld is %g; expected an integer in %s's range (the model reads %s here: labels or "
                     "ids)",
                     a->path, (long long)i, v, rt_dtype_name(dtype), rt_dtype_name(dtype));
  }
  /* Same size: in place, element i read before it is written. */
  void *out = from == to ? a->data : rt_alloc((size_t)(a->numel > 0 ? a->numel : 1) * to, a->path, e);
  if (!out) return -1;
  for (int64_t i = 0; i < a->numel; i++)
    rt_dtype_set(dtype, out, i, rt_dtype_get(a->dtype, a->data, i));
  if (out != a->data) rt_free(a->data), a->data = out;
  a->dtype = dtype;
  return 0;
}

/* ---- the header dict ---- */

typedef struct Lit {
  const char *s;
  size_t len, pos, base; /* base: file offset of s[0] */
  const char *path;
  RtError *e;
} Lit;

static int lit_err(Lit *l, const char *what) {
  return rt_fail(l->e, RT_EXIT_USAGE, "%s: offset %zu: bad .npy header: %s", l->path, l->base + l->pos, what);
}

static void lit_ws(Lit *l) {
  while (l->pos < l->len &&
         (l->s[l->pos] == ' ' || l->s[l->pos] == '\t' || l->s[l->pos] == '\n' || l->s[l->pos] == '\r'))
    l->pos++;
}

static int lit_char(Lit *l, char c) {
  lit_ws(l);
  if (l->pos < l->len && l->s[l->pos] == c) {
    l->pos++;
    return 1;
  }
  return 0;
}

/* A quoted Python string without escapes (all the format uses). */
static int lit_str(Lit *l, char *out, size_t size) {
  lit_ws(l);
  if (l->pos >= l->len || (l->s[l->pos] != '\'' && l->s[l->pos] != '"')) return lit_err(l, "expected a quoted string");
  char q = l->s[l->pos++];
  size_t n = 0;
  while (l->pos < l->len && l->s[l->pos] != q) {
    if (n + 1 >= size || l->s[l->pos] == '\\') return lit_err(l, "unsupported string");
    out[n++] = l->s[l->pos++];
  }
  if (l->pos >= l->len) return lit_err(l, "unterminated string");
  l->pos++;
  out[n] = '\0';
  return 0;
}

typedef struct NpyHeader {
  char descr[16];
  int fortran, have_descr, have_fortran, have_shape;
  int32_t rank;
  int64_t dims[NNRT_MAX_RANK];
} NpyHeader;

/* dict = '{' (str ':' value ',')* '}' */
static int parse_dict(Lit *l, NpyHeader *h) {
  if (!lit_char(l, '{')) return lit_err(l, "expected '{'");
  while (!lit_char(l, '}')) {
    char key[32];
    if (lit_str(l, key, sizeof key)) return -1;
    if (!lit_char(l, ':')) return lit_err(l, "expected ':'");
    lit_ws(l);
    if (strcmp(key, "descr") == 0) {
      if (lit_str(l, h->descr, sizeof h->descr)) return -1;
      h->have_descr = 1;
    } else if (strcmp(key, "fortran_order") == 0) {
      if (l->len - l->pos >= 4 && memcmp(l->s + l->pos, "True", 4) == 0)
        h->fortran = 1, l->pos += 4;
      else if (l->len - l->pos >= 5 && memcmp(l->s + l->pos, "False", 5) == 0)
        h->fortran = 0, l->pos += 5;
      else
        return lit_err(l, "expected True or False");
      h->have_fortran = 1;
    } else if (strcmp(key, "shape") == 0) {
      if (!lit_char(l, '(')) return lit_err(l, "expected a shape tuple");
      h->rank = 0;
      while (!lit_char(l, ')')) {
        lit_ws(l);
        int64_t v = 0;
        size_t start = l->pos;
        while (l->pos < l->len && l->s[l->pos] >= '0' && l->s[l->pos] <= '9') {
          if (v > (INT64_MAX - 9) / 10) return lit_err(l, "dimension too large");
          v = v * 10 + (l->s[l->pos++] - '0');
        }
        if (l->pos == start) return lit_err(l, "expected a dimension");
        if (h->rank == NNRT_MAX_RANK) return lit_err(l, "more than 6 dimensions");
        h->dims[h->rank++] = v;
        if (!lit_char(l, ',') && !(lit_ws(l), l->pos < l->len && l->s[l->pos] == ')'))
          return lit_err(l, "expected ',' or ')'");
      }
      h->have_shape = 1;
    } else {
      return lit_err(l, "unknown key");
    }
    if (!lit_char(l, ',') && !(lit_ws(l), l->pos < l->len && l->s[l->pos] == '}'))
      return lit_err(l, "expected ',' or '}'");
  }
  if (!h->have_descr || !h->have_fortran || !h->have_shape)
    return lit_err(l, "expected keys 'descr', 'fortran_order' and 'shape'");
  return 0;
}

/* Storage types we read: on-disk size and how to widen one element. */
typedef enum { K_F4, K_F8, K_I4, K_I8, K_U1, K_I1 } NpyKind;

static int npy_kind(const char *d, NpyKind *k, int *size) {
  static const struct {
    const char *descr;
    NpyKind kind;
    int size;
  } table[] = {{"<f4", K_F4, 4}, {"<f8", K_F8, 8}, {"<i4", K_I4, 4}, {"<i8", K_I8, 8},
               {"|u1", K_U1, 1}, {"<u1", K_U1, 1}, {"|i1", K_I1, 1}, {"<i1", K_I1, 1}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(d, table[i].descr) == 0) {
      *k = table[i].kind;
      *size = table[i].size;
      return 0;
    }
  return -1;
}

int rt_npy_load(const char *path, RtArray *out, RtError *e) {
  memset(out, 0, sizeof *out);
  snprintf(out->path, sizeof out->path, "%s", path);
  FILE *f = rt_fault_fopen(path, "rb");
  if (!f) return rt_fail(e, RT_EXIT_USAGE, "%s: cannot open: %s", path, strerror(errno));
  int rc = -1;
  char *hdr = NULL;
  void *raw = NULL;
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    rt_fail(e, RT_EXIT_USAGE, "%s: not a regular file", path);
    goto out;
  }
  uint64_t fsize = (uint64_t)st.st_size;
  unsigned char pre[12];
  size_t got = fread(pre, 1, 10, f);
  if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset 0: expected the .npy magic \"\\x93NUMPY\"%s", path,
            got < 10 ? ", file too short" : "");
    goto out;
  }
  unsigned major = pre[6];
  size_t hlen, hstart;
  if (major == 1) {
    hlen = pre[8] | (size_t)pre[9] << 8;
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      rt_fail(e, RT_EXIT_USAGE, "%s: offset 10: file ends inside the header length", path);
      goto out;
    }
    hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    hstart = 12;
  } else {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset 6: .npy format version %u is not supported (expected 1, 2 or 3)", path,
            major);
    goto out;
  }
  if (hlen > fsize - hstart || hlen > (1u << 20)) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset 8: header length %zu is past the end of the file (%llu bytes)", path, hlen,
            (unsigned long long)fsize);
    goto out;
  }
  if (!(hdr = rt_fault_malloc(hlen + 1))) {
    rt_fail(e, RT_EXIT_FAIL, "out of memory reading the header of %s", path);
    goto out;
  }
  if (fread(hdr, 1, hlen, f) != hlen) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset %zu: cannot read the header", path, hstart);
    goto out;
  }
  NpyHeader h = {0};
  Lit lit = {hdr, hlen, 0, hstart, path, e};
  if (parse_dict(&lit, &h)) goto out;
  NpyKind kind;
  int esize;
  if (npy_kind(h.descr, &kind, &esize)) {
    rt_fail(e, RT_EXIT_USAGE,
            "%s: dtype '%s' is not supported; expected one of '<f4' '<f8' '<i4' '<i8' '|u1' '|i1' (little-endian)",
            path, h.descr);
    goto out;
  }
  if (h.fortran) {
    rt_fail(e, RT_EXIT_USAGE, "%s: Fortran-ordered arrays are not supported; save numpy.ascontiguousarray(a) instead",
            path);
    goto out;
  }
  int64_t numel = 1, bytes;
  for (int i = 0; i < h.rank; i++)
    if (rt_mul64(numel, h.dims[i], &numel)) {
      rt_fail(e, RT_EXIT_USAGE, "%s: shape too large", path);
      goto out;
    }
  uint64_t dstart = hstart + hlen;
  if (rt_mul64(numel, esize, &bytes)) { /* more bytes than an int64 holds: no file has them */
    rt_fail(e, RT_EXIT_USAGE, "%s: shape too large (%lld elements of '%s')", path, (long long)numel, h.descr);
    goto out;
  }
  if ((uint64_t)bytes > fsize - dstart) {
    char sh[160];
    rt_shape_str(sh, sizeof sh, h.rank, h.dims);
    rt_fail(e, RT_EXIT_USAGE,
            "%s: offset %llu: expected %lld elements of '%s' for shape %s (%lld bytes), file ends after %llu", path,
            (unsigned long long)dstart, (long long)numel, h.descr, sh, (long long)bytes,
            (unsigned long long)(fsize - dstart));
    goto out;
  }
  if ((uint64_t)bytes != fsize - dstart) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset %llu: %llu bytes after the data; expected the end of the file", path,
            (unsigned long long)(dstart + (uint64_t)bytes), (unsigned long long)(fsize - dstart - (uint64_t)bytes));
    goto out;
  }
  out->dtype = (kind == K_F4 || kind == K_F8) ? NNRT_F32 : NNRT_I32;
  out->rank = h.rank;
  out->shape_offset = (int64_t)hstart;
  out->data_offset = (int64_t)dstart;
  out->elem_bytes = esize;
  memcpy(out->dims, h.dims, sizeof h.dims);
  out->numel = numel;
  /* Data sets hold f32 or i32 (rt_array_convert makes what the model reads):
   * those read straight into place, other storage via a bounce buffer. */
  size_t size = rt_dtype_size(out->dtype);
  out->data = rt_alloc((size_t)numel * size, path, e);
  raw = (size_t)esize == size ? out->data : rt_fault_malloc((size_t)bytes + 1);
  if (!out->data || !raw) {
    rt_fail(e, RT_EXIT_FAIL, "out of memory reading %s (%lld bytes)", path, (long long)bytes);
    goto out;
  }
  if (fread(raw, 1, (size_t)bytes, f) != (size_t)bytes) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset %llu: read error", path, (unsigned long long)dstart);
    goto out;
  }
  float *fo = out->data;
  int32_t *io = out->data;
  for (int64_t i = 0; i < numel && raw != out->data; i++) {
    switch (kind) {
    case K_F8: {
      double v;
      memcpy(&v, (char *)raw + 8 * i, 8);
      fo[i] = (float)v;
      break;
    }
    case K_I8: {
      int64_t v;
      memcpy(&v, (char *)raw + 8 * i, 8);
      if (v < INT32_MIN || v > INT32_MAX) {
        rt_fail(e, RT_EXIT_USAGE, "%s: offset %llu: element %lld is %lld, out of int32 range", path,
                (unsigned long long)(dstart + 8 * (uint64_t)i), (long long)i, (long long)v);
        goto out;
      }
      io[i] = (int32_t)v;
      break;
    }
    case K_U1:
      io[i] = ((unsigned char *)raw)[i];
      break;
    case K_I1:
      io[i] = ((signed char *)raw)[i];
      break;
    default:
      break;
    }
  }
  rc = 0;
out:
  if (raw != out->data) free(raw);
  if (rc) rt_array_free(out);
  free(hdr);
  fclose(f);
  return rc;
}

int rt_npy_save(const char *path, const RtArray *a, RtError *e) {
  char dict[256], shape[200] = "";
  size_t at = 0;
  for (int i = 0; i < a->rank; i++)
    at += (size_t)snprintf(shape + at, sizeof shape - at, "%lld,%s", (long long)a->dims[i], i + 1 < a->rank ? " " : "");
  if (a->rank > 1) shape[at - 1] = '\0'; /* numpy writes (3,) but (3, 4) */
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                   rt_dtype_npy(a->dtype), shape);
  /* Pad so magic + length + dict + '\n' is a multiple of 64, as numpy does. */
  int total = (10 + n + 1 + 63) / 64 * 64;
  FILE *f = fopen(path, "wb");
  if (!f) return rt_fail(e, RT_EXIT_FAIL, "%s: cannot create: %s", path, strerror(errno));
  int hl = total - 10;
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
  fwrite(pre, 1, 10, f);
  fwrite(dict, 1, (size_t)n, f);
  for (int i = 10 + n; i < total - 1; i++)
    fputc(' ', f);
  fputc('\n', f);
  fwrite(a->data, rt_dtype_size(a->dtype), (size_t)a->numel, f);
  if (ferror(f) | fclose(f)) return rt_fail(e, RT_EXIT_FAIL, "%s: write failed", path);
  return 0;
}
