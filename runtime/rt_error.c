/* rt_error.c — rt_fail, alone in its file so that the nnc driver can link
 * the JSON reader and the report printer (rt_json.c, rt_report.c) without
 * the rest of the runtime. */
#include "nnrt.h"
#include <stdarg.h>

int rt_fail(RtError *e, int code, const char *fmt, ...) {
  if (!e) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->code = code;
  return -1;
}
