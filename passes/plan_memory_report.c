/* plan_memory_report.c — what is live at the memory peak
 * (--plan-memory=report[:BATCH]).
 *
 * The one-line report says how large the arena is; this says why: the
 * workspace values live in the kernel where the most bytes are live at once
 * (the lower bound's kernel) in the function with the largest arena,
 * largest first, each with the kernel that writes it and the last kernel
 * that reads it. A value that lives from forward to backward (a stored
 * activation) shows as a long span between the two. Printed at the batch
 * given, else at the planned one (the train block's).
 *
 *   memory peak: train_step at batch 256: 1234567 bytes live in kernel k812_matmul (of 1200)
 *     bytes      share  value  type              written by          last read by
 *     33554432   12.5%  %1203  f32[B,128,512]    k301_ew (gelu)      k845_matmul
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../codegen/plan.h"
#include "passes.h"

bool plan_memory_check_option(const char *value, char *err, size_t errsize) {
  if (!strcmp(value, "report")) return true;
  if (!strncmp(value, "report:", 7)) {
    char *end;
    long long b = strtoll(value + 7, &end, 10);
    if (end != value + 7 && !*end && b >= 1 && b <= 1000000) return true;
  }
  snprintf(err, errsize, "--plan-memory takes report or report:BATCH (a batch from 1 to 1000000), not '%s'", value);
  return false;
}

typedef struct LiveBuf {
  int buf;
  int64_t bytes;
} LiveBuf;

static int cmp_live(const void *x, const void *y) {
  const LiveBuf *a = x, *b = y;
  return a->bytes != b->bytes ? (a->bytes < b->bytes) - (a->bytes > b->bytes) : (a->buf > b->buf) - (a->buf < b->buf);
}

/* The kernel of step t that reads buffer b last (the step's last such
 * kernel), or the step's first kernel when none of them reads it. */
static int last_reader(const CgPlan *p, int b, int t, const CgVal **rd, int *nodes) {
  int found = t;
  for (int i = t; i < p->nks && p->ks[i].step == t; i++) {
    int n = cg_kernel_reads(p, &p->ks[i], rd, nodes);
    for (int j = 0; j < n; j++)
      if (rd[j]->kind == CV_BUF && rd[j]->v.buf == b) found = i;
  }
  return found;
}

void plan_memory_report(FILE *out, const IrModule *m, const IrFunc *f, const int64_t *syms, int64_t batch,
                        const CgPlanOptions *o) {
  Arena *a = arena_new();
  CgPlan *p = cg_plan(a, m, f, o);
  CgMemStats st = cg_memstats(p, syms);
  const CgKInfo *ki = cg_kinfo(a, m, p);
  LiveBuf *live = arena_alloc(a, sizeof(LiveBuf) * (size_t)(p->nbufs + 1));
  int n = 0;
  for (int b = 0; b < p->nbufs; b++) {
    int64_t bytes = p->nks ? cg_mem_live_bytes(p, b, st.peak, syms) : 0;
    if (bytes) live[n++] = (LiveBuf){b, bytes};
  }
  qsort(live, (size_t)n, sizeof *live, cmp_live);
  size_t cap = (size_t)(IR_MAX_ARGS * f->n + f->nrets + 2);
  const CgVal **rd = arena_alloc(a, sizeof(CgVal *) * cap);
  int *nodes = arena_alloc(a, sizeof(int) * cap);
  fprintf(out, "memory peak: %s at batch %" PRId64 ": %" PRId64 " bytes live in kernel %s (of %d), %d values\n",
          f->name, batch, st.lower, p->nks ? ki[st.peak].name : "-", p->nks, n);
  /* The arena the step function lays out at this batch (a scan's or an
   * int8 product's scratch comes on top), and how (codegen/memplan.c): a
   * scaled plan takes the split layout where it needs fewer bytes. */
  int64_t scale = cg_mem_scale(p, syms);
  fprintf(out, "workspace: %" PRId64 " bytes at batch %" PRId64 ": ", st.arena, batch);
  if (st.split)
    fprintf(out, "%" PRId64 " fixed-size, then the batch-sized %" PRId64 " x %" PRId64 "\n", p->split_fixed,
            p->split_batch, scale);
  else if (p->scaled)
    fprintf(out, "the planned arena x %" PRId64 "\n", scale);
  else
    fprintf(out, "one slot per size class\n");
  fprintf(out, "  %-11s %6s  %-7s %-22s %-26s %s\n", "bytes", "share", "value", "type", "written by", "last read by");
  for (int i = 0; i < n; i++) {
    const CgBuf *b = &p->bufs[live[i].buf];
    const IrNode *nd = &f->nodes[b->owner];
    char ty[96], by[96], name[64];
    ir_type_str(m, &nd->ty, ty, sizeof ty);
    if (nd->name) snprintf(name, sizeof name, "%%%s", nd->name);
    else snprintf(name, sizeof name, "%%%d", b->owner);
    int writer = p->kof[b->owner] >= 0 ? p->kof[b->owner] : b->def;
    snprintf(by, sizeof by, "%s (%s)", ki[writer].name, ir_ops[nd->op].mnemonic);
    fprintf(out, "  %-11" PRId64 " %5.1f%%  %-7s %-22s %-26s %s\n", live[i].bytes,
            100.0 * (double)live[i].bytes / (double)st.lower, name, ty, by,
            ki[last_reader(p, live[i].buf, b->last, rd, nodes)].name);
  }
  arena_free(a);
}
