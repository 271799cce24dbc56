/* rt_numerics.h — --check-numerics (rt_numerics.c). */
#ifndef RT_NUMERICS_H
#define RT_NUMERICS_H
#include "nnrt.h"

/* main: --check-numerics was given; prog names the binary in messages. */
void rt_numerics_request(const char *prog);
/* rt_session_open: when requested, points the step functions'
 * nnrt_check_hook at a check of every value they write, which names the
 * first NaN or Inf with its op and source line and exits 3. */
void rt_numerics_attach(const RtSession *s);

#endif
