/* nnrt_philox.h — Philox4x32-10 as one inline function, and the dropout
 * mask built from it: shared by the runtime (rt_philox.c), the IR's
 * reference interpreter (ir/interp.c) and, through its constants, the CPU
 * backend, which emits the same arithmetic inline (codegen/cpu/k_gather.c).
 * One definition, so the interpreter and the generated code draw bitwise
 * the same masks.
 *
 * Constants and round function as in Random123 (philox.h): each round
 * multiplies two counter words by M0/M1, mixes the high halves with the
 * other two words and the key, and the key is bumped by the Weyl constants
 * W0/W1 between rounds. */
#ifndef NNRT_PHILOX_H
#define NNRT_PHILOX_H
#include <stdint.h>

#define NNRT_PHILOX_M0 0xD2511F53u
#define NNRT_PHILOX_M1 0xCD9E8D57u
#define NNRT_PHILOX_W0 0x9E3779B9u
#define NNRT_PHILOX_W1 0xBB67AE85u
#define NNRT_PHILOX_ROUNDS 10

static inline void nnrt_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int r = 0; r < NNRT_PHILOX_ROUNDS; r++) {
    if (r > 0) {
      k0 += NNRT_PHILOX_W0;
      k1 += NNRT_PHILOX_W1;
    }
    uint64_t p0 = (uint64_t)NNRT_PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)NNRT_PHILOX_M1 * c2;
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

/* ---- dropout ----
 *
 * Element i of a dropout with drop rate r at site `salt`, in training step
 * `step`, under the run's 64-bit seed: one Philox block serves four
 * elements. Block i / 4 is keyed by the seed, with the counter
 *   { (i/4) low word, (i/4) high word, step, salt << 8 | NNRT_DROPOUT_PURPOSE }
 * (the purpose byte keeps it apart from the runtime's own streams, whose
 * last counter word is a small RT_RNG_* number), and the element is kept
 * when word i % 4 is at least nnrt_dropout_threshold(r): a drop with
 * probability r rounded down to a multiple of 2^-32. A kept element is
 * scaled by 1 / (1 - r) (inverted dropout). Everything is a function of
 * (seed, step, salt, i), so the gradient regenerates the mask, and no
 * thread count or chunking can change it. */
#define NNRT_DROPOUT_PURPOSE 3u

static inline uint32_t nnrt_dropout_threshold(double rate) {
  double t = rate * 4294967296.0;
  return t <= 0 ? 0u : t >= 4294967295.0 ? 4294967295u : (uint32_t)t;
}

static inline uint32_t nnrt_dropout_word3(uint32_t salt) { return salt << 8 | NNRT_DROPOUT_PURPOSE; }

#endif
