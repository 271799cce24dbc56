/* rt_philox.c — Philox4x32-10 and what the runtime draws from it.
 *
 * Constants and round function as in Random123 (philox.h): each round
 * multiplies two counter words by M0/M1, mixes the high halves with the other
 * two words and the key, and the key is bumped by the Weyl constants W0/W1
 * between rounds. Known-answer vectors are checked in tests/runtime.
 *
 * Streams are keyed by the 64-bit seed; the counter is {block lo, block hi,
 * stream, purpose}, so parameter init (stream = global index), shuffling
 * (stream = epoch) and the validation split never share numbers and none
 * depends on the order in which anything else was drawn. */
#include "nnrt.h"
#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void rt_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

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
