/* memplan.c — workspace slots with liveness-based reuse, and what they cost.
 *
 * Every value a kernel writes to the workspace lives from the kernel that
 * writes it to the last kernel that reads it (both inclusive, so a kernel
 * never writes over its own inputs — except in place: an elementwise kernel
 * may write its export into the slot of a value that dies in it, when it
 * reads that value only at the index it writes, row-major). Values are
 * packed into slots: a slot is reused by a later value once its occupant is
 * dead. Sizes may be symbolic (B*256 floats), so a slot only takes values
 * whose size has the same symbolic part, comparing coefficients (B*10 fits a
 * B*256 slot for every B; 1000 might not). A slot grows to its largest
 * occupant.
 *
 * The assignment is the plan-memory pass's (passes/plan_memory.c), which
 * runs this and records each value's slot in the IR (IrNode.slot); when a
 * function carries that record, the plan takes it as given (and checks it),
 * otherwise it runs the same assignment itself.
 *
 * The step function lays the slots out one after another at run time, each
 * 64-byte aligned, from the syms it is called with; the workspace size
 * function computes the same sum. */
#include <string.h>

#include "plan.h"

typedef struct Slot {
  CgMono size;  /* bytes */
  int free_at;  /* kernel index after which it is free */
  int occupant; /* its last buffer */
} Slot;

static CgMono buf_bytes(const IrFunc *f, const CgBuf *b) {
  return cg_mono_mul(cg_mono_numel(&f->nodes[b->owner].ty.sh, 0), cg_mono(4));
}

/* May kernel ki write its export into the memory of buffer `dying` (read
 * last by ki, defined before it)? Only an elementwise kernel whose every
 * read of it is at the written index: the domain's shape, row-major. */
static bool in_place_ok(const CgPlan *p, int ki, int dying, const CgVal **rd, int *nodes) {
  const CgKernel *k = &p->ks[ki];
  if (k->kind != CK_EW || k->end || p->bufs[dying].def >= ki) return false;
  int n = cg_kernel_reads(p, k, rd, nodes);
  for (int j = 0; j < n; j++) {
    if (rd[j]->kind != CV_BUF || rd[j]->v.buf != dying) continue;
    const Shape *s = &p->f->nodes[nodes[j]].ty.sh;
    if (!ir_shape_eq(s, &k->domain) || !cg_view_rowmajor(&rd[j]->v, s)) return false;
  }
  return true;
}

static void live_ranges(Arena *a, CgPlan *p, const CgVal **rd, int *nodes) {
  for (int b = 0; b < p->nbufs; b++)
    p->bufs[b].def = -1, p->bufs[b].last = -1;
  for (int i = 0; i < p->nks; i++)
    for (int e = 0; e < p->ks[i].nexp; e++) {
      CgBuf *b = &p->bufs[p->ks[i].exp[e].buf];
      if (b->kind != CB_WS) continue;
      if (b->def < 0) b->def = i;
      if (b->last < i) b->last = i;
    }
  for (int i = 0; i < p->nks; i++) {
    int n = cg_kernel_reads(p, &p->ks[i], rd, nodes);
    for (int j = 0; j < n; j++) {
      if (rd[j]->kind != CV_BUF) continue;
      CgBuf *b = &p->bufs[rd[j]->v.buf];
      if (b->kind == CB_WS && b->last < i) b->last = i;
    }
  }
  (void)a;
}

/* Workspace buffers in definition order. */
static int def_order(const CgPlan *p, int *order) {
  int n = 0;
  for (int i = 0; i < p->nks; i++)
    for (int e = 0; e < p->ks[i].nexp; e++) {
      int b = p->ks[i].exp[e].buf;
      if (p->bufs[b].kind == CB_WS && p->bufs[b].def == i) order[n++] = b;
    }
  return n;
}

static void assign(Arena *a, CgPlan *p, const int *order, int n, const CgVal **rd, int *nodes) {
  const IrFunc *f = p->f;
  Slot *slots = arena_alloc(a, sizeof(Slot) * (size_t)(n + 1));
  int ns = 0;
  for (int i = 0; i < n; i++) {
    CgBuf *b = &p->bufs[order[i]];
    CgMono need = buf_bytes(f, b);
    /* Best fit among free slots of the same symbolic class: the smallest
     * that is big enough, else the biggest (which then grows). A slot whose
     * occupant dies in this very kernel is free if the write can be in
     * place; it is preferred, since it is hot in cache. */
    int best = -1;
    bool best_inplace = false;
    for (int s = 0; s < ns; s++) {
      if (!cg_mono_same_syms(slots[s].size, need)) continue;
      bool inplace = slots[s].free_at == b->def && in_place_ok(p, b->def, slots[s].occupant, rd, nodes);
      if (slots[s].free_at >= b->def && !inplace) continue;
      bool fits = slots[s].size.c >= need.c;
      if (inplace && fits && !best_inplace) {
        best = s, best_inplace = true;
        continue;
      }
      if (best_inplace) continue;
      if (best < 0) {
        best = s;
        continue;
      }
      int64_t c = slots[s].size.c, bc = slots[best].size.c;
      bool bfits = bc >= need.c;
      if ((fits && (!bfits || c < bc)) || (!fits && !bfits && c > bc)) best = s;
    }
    if (best < 0) best = ns++, slots[best].size = need;
    if (slots[best].size.c < need.c) slots[best].size = need;
    slots[best].free_at = b->last;
    slots[best].occupant = order[i];
    b->index = best;
  }
  p->nslots = ns;
}

/* Slots as the IR records them: each buffer's from its owner's IrNode.slot.
 * The record must be one this file could have made: an assignment that puts
 * two live values in one slot is a compiler bug (nothing but plan-memory
 * writes slots, and any pass that changes nodes after it clears them). */
static void take_recorded(CgPlan *p, const int *order, int n, const CgVal **rd, int *nodes) {
  int ns = 0;
  for (int i = 0; i < n; i++) {
    CgBuf *b = &p->bufs[order[i]];
    int s = p->f->nodes[b->owner].slot;
    if (s < 0 || s > p->f->n) unreachable("plan-memory left a workspace value without a slot");
    b->index = s;
    if (s >= ns) ns = s + 1;
    for (int j = 0; j < i; j++) {
      const CgBuf *o = &p->bufs[order[j]];
      if (o->index != s || o->last < b->def) continue;
      if (o->last == b->def && in_place_ok(p, b->def, order[j], rd, nodes)) continue;
      unreachable("plan-memory put two live values in one workspace slot");
    }
  }
  p->nslots = ns;
}

void cg_memplan(Arena *a, CgPlan *p) {
  const IrFunc *f = p->f;
  size_t cap = (size_t)(IR_MAX_ARGS * f->n + f->nrets + 2);
  const CgVal **rd = arena_alloc(a, sizeof(CgVal *) * cap);
  int *nodes = arena_alloc(a, sizeof(int) * cap);
  live_ranges(a, p, rd, nodes);
  int *order = arena_alloc(a, sizeof(int) * (size_t)(p->nbufs + 1));
  int n = def_order(p, order);
  if (f->mem_planned) take_recorded(p, order, n, rd, nodes);
  else assign(a, p, order, n, rd, nodes);
  p->slot_size = arena_alloc(a, sizeof(CgMono) * (size_t)(p->nslots + 1));
  for (int s = 0; s < p->nslots; s++)
    p->slot_size[s] = cg_mono(0);
  for (int i = 0; i < n; i++) {
    const CgBuf *b = &p->bufs[order[i]];
    CgMono need = buf_bytes(f, b);
    CgMono *have = &p->slot_size[b->index];
    if (have->c == 0 || (cg_mono_same_syms(*have, need) && have->c < need.c)) *have = need;
  }
}

/* ---- what it costs ---- */

static int64_t mono_at(CgMono m, const int64_t *syms) {
  int64_t v = m.c;
  for (int k = 0; k < CG_MAX_SYMS; k++)
    for (int e = 0; e < m.e[k]; e++)
      v *= syms[k];
  return v;
}

static int64_t align64(int64_t v) { return (v + 63) / 64 * 64; }

CgMemStats cg_memstats(const CgPlan *p, const int64_t *syms) {
  CgMemStats st = {0};
  for (int s = 0; s < p->nslots; s++)
    st.arena += align64(mono_at(p->slot_size[s], syms));
  /* The lower bound: the most bytes live at once over the kernel order. */
  for (int i = 0; i < p->nks; i++) {
    int64_t live = 0;
    for (int b = 0; b < p->nbufs; b++) {
      const CgBuf *x = &p->bufs[b];
      if (x->kind != CB_WS || x->def < 0 || x->def > i || x->last < i) continue;
      /* An in-place write shares its input's bytes in the kernel where one
       * dies and the other is born: count the pair once there. */
      bool shared = false;
      if (x->def == i)
        for (int o = 0; o < p->nbufs && !shared; o++)
          shared = o != b && p->bufs[o].kind == CB_WS && p->bufs[o].index == x->index && p->bufs[o].last == i &&
                   p->bufs[o].def < i;
      if (!shared) live += align64(mono_at(buf_bytes(p->f, x), syms));
    }
    if (live > st.lower) st.lower = live;
  }
  return st;
}
