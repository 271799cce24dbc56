/* dtype.c — the element type table (runtime/nnrt_dtypes.def, shared with
 * the runtime) and what `cast` does to one element: the reference the
 * interpreter runs and the backends match. */
#include "ir.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct DTypeInfo {
  const char *name;
  int bytes;
  bool is_float, is_signed;
} DTypeInfo;

/* Designated by code: a code given twice is an -Woverride-init warning,
 * and the count check below catches a gap. */
static const DTypeInfo dtypes[DT_COUNT] = {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  [DT_##id] = {name, bytes, is_float, is_signed},
#include "../runtime/nnrt_dtypes.def"
};

enum {
  DT_ROWS = 0
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype) +1
#include "../runtime/nnrt_dtypes.def"
};
_Static_assert((int)DT_ROWS == (int)DT_COUNT, "nnrt_dtypes.def: codes must be dense from 0");

static const DTypeInfo *info(DType dt) { return (unsigned)dt < DT_COUNT ? &dtypes[dt] : NULL; }

const char *ir_dtype_name(DType dt) { return info(dt) ? info(dt)->name : "?"; }
int ir_dtype_size(DType dt) { return info(dt) ? info(dt)->bytes : 0; }
bool ir_dtype_is_float(DType dt) { return info(dt) && info(dt)->is_float; }
bool ir_dtype_is_signed(DType dt) { return info(dt) && info(dt)->is_signed; }
bool ir_dtype_valid(DType dt) { return info(dt) && info(dt)->bytes > 0; }

bool ir_dtype_lookup(const char *s, size_t len, DType *out) {
  for (int i = 0; i < DT_COUNT; i++)
    if (dtypes[i].bytes && strlen(dtypes[i].name) == len && !memcmp(dtypes[i].name, s, len)) {
      *out = (DType)i;
      return true;
    }
  return false;
}

const char *ir_dtype_list(char *buf, size_t len) {
  int n = 0, last = 0;
  for (int i = 0; i < DT_COUNT; i++)
    if (dtypes[i].bytes) n++, last = i;
  size_t k = 0;
  if (len) buf[0] = 0;
  for (int i = 0, seen = 0; i < DT_COUNT && k < len; i++) {
    if (!dtypes[i].bytes) continue;
    const char *sep = !seen++ ? "" : i == last && n > 1 ? " or " : ", ";
    int w = snprintf(buf + k, len - k, "%s%s", sep, dtypes[i].name);
    k += w > 0 ? (size_t)w : 0;
  }
  return buf;
}

/* An integer type's range as [lo, hi): both powers of two (or 0), so
 * exact in a double even for 64 bits, where hi - 1 is not. */
static void int_range(const DTypeInfo *t, double *lo, double *hi) {
  int bits = 8 * t->bytes;
  *lo = t->is_signed ? -ldexp(1, bits - 1) : 0;
  *hi = ldexp(1, t->is_signed ? bits - 1 : bits);
}

bool ir_dtype_holds(DType dt, double v) {
  const DTypeInfo *t = info(dt);
  if (!t || !t->bytes) return false;
  if (t->is_float) return true; /* a float const is rounded to the type */
  double lo, hi;
  int_range(t, &lo, &hi);
  return v == trunc(v) && v >= lo && v < hi; /* NaN fails every compare */
}

/* x in dt's own precision (for a float type: rounded to nearest). */
static double round_to(DType dt, double x) {
  switch (dt) {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  case DT_##id:                                                                                                        \
    return is_float ? (double)(ctype)x : x;
#include "../runtime/nnrt_dtypes.def"
  default:
    return x;
  }
}

double ir_dtype_convert(double x, DType from, DType to) {
  const DTypeInfo *f = info(from), *t = info(to);
  if (from == to || !f || !t || !t->bytes) return x;
  if (t->is_float) return round_to(to, x);
  double lo, hi;
  int_range(t, &lo, &hi);
  if (f->is_float) {
    if (isnan(x)) return 0;
    double v = trunc(x);
    return v < lo ? lo : v >= hi ? hi - 1 : v; /* hi - 1 rounds to hi for i64, as INT64_MAX does */
  }
  if (x >= lo && x < hi) return x;
  /* Wrap modulo 2^bits. x is an integer; clamping it into int64 first
   * only matters for an i64 the double could not hold exactly. */
  int bits = 8 * t->bytes;
  int64_t v = x >= ldexp(1, 63) ? INT64_MAX : x < -ldexp(1, 63) ? INT64_MIN : (int64_t)x;
  if (bits >= 64) return (double)v;
  uint64_t u = (uint64_t)v & (((uint64_t)1 << bits) - 1);
  return t->is_signed && u >> (bits - 1) ? (double)u - ldexp(1, bits) : (double)u;
}

double ir_data_get(DType dt, const void *data, int64_t i) {
  switch (dt) {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  case DT_##id:                                                                                                        \
    return (double)((const ctype *)data)[i];
#include "../runtime/nnrt_dtypes.def"
  default:
    return 0;
  }
}

void ir_data_set(DType dt, void *data, int64_t i, double v) {
  switch (dt) {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  case DT_##id:                                                                                                        \
    ((ctype *)data)[i] = (ctype)v;                                                                                     \
    break;
#include "../runtime/nnrt_dtypes.def"
  default:
    break;
  }
}
