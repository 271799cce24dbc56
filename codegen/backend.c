/* backend.c — the registry of code generators: --target=<name> looks a
 * backend up here, nnc --version lists them. A new target is one row. */
#include <stdio.h>
#include <string.h>

#include "backend.h"

const Backend *const cg_backends[] = {&cg_cpu_backend, &cg_cuda_backend};
const int cg_nbackends = (int)(sizeof cg_backends / sizeof cg_backends[0]);

const Backend *cg_backend_find(const char *name) {
  for (int i = 0; i < cg_nbackends; i++)
    if (!strcmp(cg_backends[i]->name, name)) return cg_backends[i];
  return NULL;
}

int cg_flag_option(const char *name, const char *value, const char *flag, bool *dst, char *err, size_t errlen) {
  if (strcmp(name, flag)) return -1;
  if (value) return snprintf(err, errlen, "--%s takes no value", flag), 0;
  *dst = true;
  return 1;
}
