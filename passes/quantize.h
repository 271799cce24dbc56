/* quantize.h — the `quantize` pass (quantize.c) and what its two modes
 * share: the option it takes and the names and levels of the scales.
 *
 *   --quantize=int8  post-training int8 quantization of a trained model
 *                    (quantize_ptq, quantize_ptq.c);
 *   --quantize=qat   quantization-aware training: fake_quant on the weight
 *                    and the activation of every contraction with a
 *                    parameter whose dot product int8 takes (quantize.c;
 *                    the driver's --qat).
 *
 * The scheme both modes use, so that a QAT checkpoint quantizes with no
 * calibration (docs/optimize.md, "Quantization-aware training"):
 *   - weights: symmetric int8 per output channel, Z = 0, levels
 *     [-QUANT_W_LEVEL, QUANT_W_LEVEL], scale s_w = max |w| / QUANT_W_LEVEL
 *     over every axis of the weight but its output channel (dense w [in,
 *     out]: over `in`; conv2d w [O, I, kh, kw]: over I, kh, kw), computed
 *     from the current weights;
 *   - activations (the contraction's other operand): u8 per tensor, zero
 *     point QUANT_A_ZERO, levels [0, 255], so q - Z is in [-128, 127], scale
 *     s_a = max |x| / QUANT_A_LEVEL from the observer below;
 *   - every scale is at least QUANT_SCALE_MIN (a zero channel or a silent
 *     activation must not divide by zero), as PyTorch's observers clamp it.
 *
 * The activation observer of the contraction whose weight is the parameter
 * @P is the GLOBAL_STATS global `P.act_scale` (f32[]; `P.act_scale.2`,
 * `.3`, ... for the second, third contraction of a function that reads the
 * same P): the exponential moving average of max |x| / QUANT_A_LEVEL over
 * the training batches, weight QUANT_OBSERVER_MOMENTUM per batch, started
 * at the first batch's value (the global is 0 until then). Post-training
 * quantization of a QAT checkpoint reads these globals instead of
 * calibrating. */
#ifndef NNC_QUANTIZE_H
#define NNC_QUANTIZE_H
#include "passes.h"

#define QUANT_W_LEVEL 127.0
#define QUANT_A_ZERO 128.0
#define QUANT_A_QMIN 0.0
#define QUANT_A_QMAX 255.0
#define QUANT_A_LEVEL 127.0
#define QUANT_SCALE_MIN 1.1920928955078125e-07 /* torch.finfo(torch.float32).eps */
#define QUANT_OBSERVER_MOMENTUM 0.01           /* torch's MovingAverageMinMaxObserver */
#define QUANT_ACT_SCALE_SUFFIX ".act_scale"

/* The shortest dot product either mode quantizes: a contraction with
 * fewer weight elements per output channel (K of a dense layer, Cin * kh *
 * kw of a conv2d) stays f32 in the int8 build, as its int8 kernel is slower
 * than the f32 one there (vpdpbusd sums 4 bytes per lane; im2col and
 * packing are not amortized) and it is typically the input layer, the most
 * sensitive to 8-bit rounding (quantize_ptq.c, docs/optimize.md); QAT then
 * leaves it unrounded too, so that it trains what the int8 build runs. */
#define QUANT_MIN_DOT 16

/* The axis of operand `side` of a matmul (of rank `rank`) that the product
 * contracts, K: the last of the left operand [.., M, K] (ta: [.., K, M]),
 * the second last of the right one [.., K, N] (tb: [.., N, K]). */
int quant_contracted_axis(const IrNode *matmul, int side, int rank);

/* The number of terms of each output channel's dot product in contraction
 * n (a matmul or conv2d) whose weight operand, of static shape w, is operand
 * `side`: the weight's contracted axis (K) for a matmul, C * kh * kw for a
 * conv2d filter [F, C, kh, kw]. */
int64_t quant_dot_length(const IrNode *n, int side, const Shape *w);

/* The rule both modes select contractions by: whether that dot product is
 * long enough (QUANT_MIN_DOT) to be quantized. */
bool quant_dot_long_enough(const IrNode *n, int side, const Shape *w);

/* Says on out that the contraction reading weight @name stays f32 for the
 * rule above (the same line in both modes). */
void quant_report_short(FILE *out, const char *name, const IrNode *n, int side, const Shape *w);

/* Checks a --quantize value (int8 or qat): false with a message in err
 * that lists the valid ones (PassInfo.check_option). */
bool quantize_check_option(const char *value, char *err, size_t errsize);

/* Post-training int8 quantization (quantize_ptq.c). */
bool quantize_ptq(IrModule *m, PassCtx *ctx);

#endif
