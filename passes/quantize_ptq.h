/* quantize_ptq.h — what post-training int8 quantization (quantize_ptq.c)
 * shares with the calibration that runs before it (driver/calibrate.c): the
 * contractions it quantizes, and the activation-scale global each reads. */
#ifndef NNC_QUANTIZE_PTQ_H
#define NNC_QUANTIZE_PTQ_H
#include "quantize.h"

/* A contraction the int8 rewrite replaces: a matmul (ta=0) or conv2d of
 * `forward` whose weight operand reads a f32 parameter global, with a dot
 * product of at least QUANT_MIN_DOT terms (quant_dot_long_enough). */
typedef struct QuantSite {
  int node;   /* the matmul / conv2d */
  int act;    /* its activation operand (the value quantized to u8) */
  int weight; /* the weight's module global */
  /* The activation's scale: the GLOBAL_STATS f32[] global of this name
   * (quantize.h: "<P>.act_scale", "<P>.act_scale.2", ...), with data from
   * calibration or a QAT checkpoint. */
  const char *act_scale;
} QuantSite;

/* The sites of f in node order, allocated in the module's arena; *n their
 * count. */
QuantSite *quant_sites(const IrFunc *f, int *n);

#endif
