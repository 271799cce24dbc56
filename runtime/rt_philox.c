/* rt_philox.c — Philox4x32-10 and what the runtime draws from it.
 *
 * The block function itself is nnrt_philox.h's (shared with the IR
 * interpreter and the dropout kernels). Known-answer vectors are checked in
 * tests/runtime.
 *
 * Streams are keyed by the 64-bit seed; the counter is {block lo, block hi,
 * stream, purpose}, so parameter init (stream = global index), shuffling
 * (stream = epoch) and the validation split never share numbers and none
 * depends on the order in which anything else was drawn. */
#include "nnrt.h"
#include "nnrt_philox.h"
#include <math.h>

/* The dropout purpose is one of the RT_RNG_* streams. */
_Static_assert(NNRT_DROPOUT_PURPOSE == RT_RNG_DROPOUT, "dropout's Philox purpose moved");

void rt_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) { nnrt_philox4x32(ctr, key, out); }

float rt_u32_to_unit(uint32_t x) {
  /* The top 24 bits: exactly representable, so the result is < 1. */
  return (float)(x >> 8) * (1.0f / 16777216.0f);
}

void rt_box_muller(uint32_t a, uint32_t b, float *n0, float *n1) {
  /* u1 in (0, 1] keeps log() finite; doubles so the result rounds the same
   * wherever libm's float functions differ in the last place. */
  double u1 = ((double)(a >> 8) + 1.0) * (1.0 / 16777216.0);
  double u2 = (double)(b >> 8) * (1.0 / 16777216.0);
  double r = sqrt(-2.0 * log(u1));
  double th = 6.283185307179586476925 * u2;
  *n0 = (float)(r * cos(th));
  *n1 = (float)(r * sin(th));
}

void rt_rng_init(RtRng *r, uint64_t seed, uint32_t stream, uint32_t purpose) {
  r->key[0] = (uint32_t)seed;
  r->key[1] = (uint32_t)(seed >> 32);
  r->ctr[0] = 0;
  r->ctr[1] = 0;
  r->ctr[2] = stream;
  r->ctr[3] = purpose;
  r->pos = 4;
}

uint32_t rt_rng_u32(RtRng *r) {
  if (r->pos == 4) {
    rt_philox4x32(r->ctr, r->key, r->buf);
    if (++r->ctr[0] == 0) r->ctr[1]++;
    r->pos = 0;
  }
  return r->buf[r->pos++];
}

uint32_t rt_rng_below(RtRng *r, uint32_t n) {
  /* Lemire's multiply-shift with rejection: unbiased, rarely loops. */
  uint64_t m = (uint64_t)rt_rng_u32(r) * n;
  uint32_t low = (uint32_t)m;
  if (low < n) {
    uint32_t threshold = (uint32_t)(-n) % n;
    while (low < threshold) {
      m = (uint64_t)rt_rng_u32(r) * n;
      low = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

void rt_shuffle(int32_t *idx, int64_t n, uint64_t seed, uint32_t stream, uint32_t purpose) {
  RtRng r;
  rt_rng_init(&r, seed, stream, purpose);
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = rt_rng_below(&r, (uint32_t)(i + 1));
    int32_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}
