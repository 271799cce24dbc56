/* rt_dtype.h — element types for the runtime, from nnrt_dtypes.def: sizes,
 * names, and reading or writing one element of any type. Static inline, so
 * that code outside libnnrt (the backend's test harness) shares them without
 * linking the runtime. */
#ifndef RT_DTYPE_H
#define RT_DTYPE_H
#include "nnrt_abi.h"
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* One row of the table; the void row and codes this runtime does not know
 * (a model from a newer nnc) read as size 0, names "?", which callers
 * refuse. */
typedef struct RtDtype {
  size_t bytes;
  const char *st_name; /* safetensors: "F32", "I8", ... */
  const char *npy;     /* .npy descr: "<f4", "|u1", ... */
  int is_float, is_signed;
} RtDtype;

static inline const RtDtype *rt_dtype(int32_t dtype) {
  static const RtDtype known[NNRT_DTYPE_COUNT] = {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  [code] = {bytes, st_name, npy, is_float, is_signed},
#include "nnrt_dtypes.def"
  };
  static const RtDtype unknown = {0, "?", "?", 0, 0};
  return dtype >= 0 && dtype < NNRT_DTYPE_COUNT && known[dtype].bytes ? &known[dtype] : &unknown;
}

static inline size_t rt_dtype_size(int32_t dtype) { return rt_dtype(dtype)->bytes; }
static inline const char *rt_dtype_name(int32_t dtype) { return rt_dtype(dtype)->st_name; }
static inline const char *rt_dtype_npy(int32_t dtype) { return rt_dtype(dtype)->npy; }
static inline int rt_dtype_is_float(int32_t dtype) { return rt_dtype(dtype)->is_float; }

/* Whether dtype holds v exactly: any v for a float type; for an integer
 * type an integer in [lo, lo + 2^bits) (powers of two: exact doubles). */
static inline int rt_dtype_holds(int32_t dtype, double v) {
  const RtDtype *t = rt_dtype(dtype);
  if (!t->bytes || t->is_float) return t->bytes != 0;
  double lo = t->is_signed ? -ldexp(1, 8 * (int)t->bytes - 1) : 0;
  return v == floor(v) && v >= lo && v < lo + ldexp(1, 8 * (int)t->bytes);
}

/* Element i of an array of dtype as a double (exact but for an i64 beyond
 * 2^53); void and unknown codes read as 0. */
static inline double rt_dtype_get(int32_t dtype, const void *p, int64_t i) {
  switch (dtype) {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  case NNRT_##id:                                                                                                      \
    return bytes ? (double)((const ctype *)p)[i] : 0;
#include "nnrt_dtypes.def"
  default:
    return 0;
  }
}

/* Stores v as element i, converted as C does: for an integer type v must
 * be one rt_dtype_holds (C leaves the rest undefined). */
static inline void rt_dtype_set(int32_t dtype, void *p, int64_t i, double v) {
  switch (dtype) {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  case NNRT_##id:                                                                                                      \
    if (bytes) ((ctype *)p)[i] = (ctype)v;                                                                             \
    break;
#include "nnrt_dtypes.def"
  default:
    break;
  }
}

#endif
