/* rt_dtype.h — element types for the runtime, from nnrt_dtypes.def: sizes,
 * names, and reading or writing one element of any type. Static inline, as
 * switches over the table, so that code outside libnnrt (the backend's test
 * harness) shares them without linking the runtime. */
#ifndef RT_DTYPE_H
#define RT_DTYPE_H
#include "nnrt_abi.h"
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes per element; 0 for void and for codes this runtime does not know
 * (a model from a newer nnc), which callers refuse. */
static inline size_t rt_dtype_size(int32_t dtype) {
  switch (dtype) {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  case NNRT_##id:                                                                                                      \
    return bytes;
#include "nnrt_dtypes.def"
  default:
    return 0;
  }
}

/* The safetensors name ("F32", "I8", ...); "?" if unknown. */
static inline const char *rt_dtype_name(int32_t dtype) {
  switch (dtype) {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  case NNRT_##id:                                                                                                      \
    return bytes ? st_name : "?";
#include "nnrt_dtypes.def"
  default:
    return "?";
  }
}

/* The .npy descr ("<f4", "|u1", ...); "?" if unknown. */
static inline const char *rt_dtype_npy(int32_t dtype) {
  switch (dtype) {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  case NNRT_##id:                                                                                                      \
    return bytes ? npy : "?";
#include "nnrt_dtypes.def"
  default:
    return "?";
  }
}

static inline int rt_dtype_is_float(int32_t dtype) {
  switch (dtype) {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  case NNRT_##id:                                                                                                      \
    return is_float;
#include "nnrt_dtypes.def"
  default:
    return 0;
  }
}

/* Whether dtype holds v exactly: any v for a float type; for an integer
 * type an integer in [lo, lo + 2^bits) (powers of two: exact doubles). */
static inline int rt_dtype_holds(int32_t dtype, double v) {
  switch (dtype) {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype)                                         \
  case NNRT_##id:                                                                                                      \
    if (!(bytes) || (is_float)) return bytes != 0;                                                                     \
    return v == floor(v) && v >= (is_signed ? -ldexp(1, 8 * bytes - 1) : 0) &&                                         \
           v < (is_signed ? -ldexp(1, 8 * bytes - 1) : 0) + ldexp(1, 8 * bytes);
#include "nnrt_dtypes.def"
  default:
    return 0;
  }
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
