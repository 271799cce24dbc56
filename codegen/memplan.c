/* memplan.c — workspace slots with liveness-based reuse.
 *
 * Every value a kernel writes to the workspace lives from the kernel that
 * writes it to the last kernel that reads it (both inclusive, so a kernel
 * never writes over its own inputs). Values are packed into slots: a slot
 * is reused by a later value once its occupant is dead. Sizes may be
 * symbolic (B*256 floats), so a slot only takes values whose size has the
 * same symbolic part, comparing coefficients (B*10 fits a B*256 slot for
 * every B; 1000 might not). A slot grows to its largest occupant.
 *
 * The step function lays the slots out one after another at run time, each
 * 64-byte aligned, from the syms it is called with; the workspace size
 * function computes the same sum. */
#include "plan.h"

typedef struct Slot {
  CgMono size; /* bytes */
  int free_at; /* kernel index after which it is free */
} Slot;

void cg_memplan(Arena *a, CgPlan *p) {
  const IrFunc *f = p->f;
  for (int i = 0; i < p->nks; i++)
    for (int e = 0; e < p->ks[i].nexp; e++) {
      CgBuf *b = &p->bufs[p->ks[i].exp[e].buf];
      if (b->kind != CB_WS) continue;
      if (b->def < 0) b->def = i;
      if (b->last < i) b->last = i;
    }
  size_t cap = (size_t)(IR_MAX_ARGS * f->n + f->nrets + 2);
  const CgVal **rd = arena_alloc(a, sizeof(CgVal *) * cap);
  int *nodes = arena_alloc(a, sizeof(int) * cap);
  for (int i = 0; i < p->nks; i++) {
    int n = cg_kernel_reads(p, &p->ks[i], rd, nodes);
    for (int j = 0; j < n; j++) {
      if (rd[j]->kind != CV_BUF) continue;
      CgBuf *b = &p->bufs[rd[j]->v.buf];
      if (b->kind == CB_WS && b->last < i) b->last = i;
    }
  }
  /* Kernel order is definition order. */
  int *order = arena_alloc(a, sizeof(int) * (size_t)(p->nbufs + 1)), n = 0;
  for (int i = 0; i < p->nks; i++)
    for (int e = 0; e < p->ks[i].nexp; e++) {
      int b = p->ks[i].exp[e].buf;
      if (p->bufs[b].kind == CB_WS && p->bufs[b].def == i) order[n++] = b;
    }
  Slot *slots = arena_alloc(a, sizeof(Slot) * (size_t)(n + 1));
  int ns = 0;
  for (int i = 0; i < n; i++) {
    CgBuf *b = &p->bufs[order[i]];
    CgMono need = cg_mono_bytes(&f->nodes[b->owner].ty, 0);
    /* Best fit among free slots of the same symbolic class: the smallest
     * that is big enough, else the biggest (which then grows). */
    int best = -1;
    for (int s = 0; s < ns; s++) {
      if (slots[s].free_at >= b->def || !cg_mono_same_syms(slots[s].size, need)) continue;
      if (best < 0) {
        best = s;
        continue;
      }
      int64_t c = slots[s].size.c, bc = slots[best].size.c;
      bool fits = c >= need.c, bfits = bc >= need.c;
      if ((fits && (!bfits || c < bc)) || (!fits && !bfits && c > bc)) best = s;
    }
    if (best < 0) best = ns++, slots[best].size = need;
    if (slots[best].size.c < need.c) slots[best].size = need;
    slots[best].free_at = b->last;
    b->index = best;
  }
  p->nslots = ns;
  p->slot_size = arena_alloc(a, sizeof(CgMono) * (size_t)(ns + 1));
  for (int s = 0; s < ns; s++)
    p->slot_size[s] = slots[s].size;
}
