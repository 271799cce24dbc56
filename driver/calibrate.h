/* calibrate.h — activation scales for post-training int8 (calibrate.c). */
#ifndef NNC_DRIVER_CALIBRATE_H
#define NNC_DRIVER_CALIBRATE_H
#include <stdio.h>

#include "ir/ir.h"

/* How activation scales are estimated from the calibration samples. */
typedef struct CalibOptions {
  int samples;       /* the first N samples of the training split */
  double percentile; /* of |x| per tensor; 100: the maximum */
  const char *data;  /* the data set (NULL: the model's train block's) */
} CalibOptions;

#define CALIB_DEFAULT_SAMPLES 1000

/* Gives every contraction the int8 rewrite quantizes (quant_sites of
 * `forward`) its activation scale, the data of the GLOBAL_STATS global
 * quant_sites names (added when absent): the observers of a QAT checkpoint
 * when ckpt holds every one of them, else s = max(|x| estimate / 127,
 * QUANT_SCALE_MIN) over the samples, `forward` run by the reference
 * interpreter. One line on report says which and how long it took.
 * Returns 0, or an exit code after reporting (2: bad data or options). */
int calib_act_scales(IrModule *m, const char *ckpt, const CalibOptions *o, FILE *report, Diag *d);

#endif
