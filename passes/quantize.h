/* quantize.h — the `quantize` pass (quantize.c) and what its two modes
 * share: the option it takes and the names and levels of the scales.
 *
 *   --quantize=int8  post-training int8 quantization of a trained model
 *                    (quantize_ptq, quantize_ptq.c);
 *   --quantize=qat   quantization-aware training: fake_quant on the weight
 *                    and the activation of every contraction with a
 *                    parameter (quantize.c; the driver's --qat).
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

/* Checks a --quantize value (int8 or qat): false with a message in err
 * that lists the valid ones (PassInfo.check_option). */
bool quantize_check_option(const char *value, char *err, size_t errsize);

/* Post-training int8 quantization (quantize_ptq.c). */
bool quantize_ptq(IrModule *m, PassCtx *ctx);

#endif
