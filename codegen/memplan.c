/* memplan.c — workspace offsets with liveness-based reuse, and what they
 * cost.
 *
 * Every value a kernel writes to the workspace lives from the kernel that
 * writes it to the last kernel that reads it (both inclusive, so a kernel
 * never writes over its own inputs — except in place: an elementwise kernel
 * may write its export into the memory of a value that dies in it, when it
 * reads that value only at the index it writes, row-major, same element
 * size). Time is counted in dispatch steps (the parts of one group run at
 * once).
 *
 * Sizes may be symbolic (B*256 floats). The offsets are planned once, at the
 * sym values the train block names (cg_plan_point: its batch), with every
 * size known: largest first, each at the lowest offset that overlaps
 * nothing live at the same time (assign()), one arena for values of every
 * size. That plan holds for any smaller batch as it is (sizes only shrink);
 * at larger sym values every offset and the arena are multiplied by the
 * integer s = cg_mem_scale(), the least s >= 1 with m(syms) <= s *
 * m(plan) for each size monomial m, which keeps the intervals disjoint and
 * aligned. Scaling the fixed-size values too wastes their bytes times
 * s-1, so such a plan also has a split layout (split_layout()): fixed-size
 * values first and the batch-sized ones scaled after them; the step
 * function takes whichever is smaller at its syms (cg_mem_split). (An
 * earlier plan kept one slot per symbolic size class, valid
 * for every batch at once, but then a static gradient and the B-sized
 * activations could never share bytes: the MLP's arena was 1.15x its lower
 * bound, text_lstm's 1.30x.) A function with a size that depends on a sym
 * the plan cannot know (not the batch: a sequence length bound from the
 * data) keeps that class plan (p->scaled false): its scale would multiply
 * every other buffer too. Slots then lay out one after another, each
 * 64-byte aligned, offsets in bytes per unit of the slot's class.
 *
 * The assignment is the plan-memory pass's (passes/plan_memory.c), which
 * runs this and records each value's offset in the IR (IrNode.slot and
 * offset, in bytes at the planned syms); when a function carries that
 * record, the plan takes it as given (and checks it: take_recorded),
 * otherwise it runs the same assignment itself.
 *
 * The step function computes the scale and the offsets from the syms it is
 * called with; the workspace size function returns the scaled arena. */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* A buffer's footprint: its bytes rounded so that every offset keeps
 * vector loads on 16-byte (small values) or cache-line (large ones)
 * boundaries. */
static int64_t footprint(int64_t c) {
  int64_t g = c >= 1024 ? 64 : 16;
  return (c + g - 1) / g * g;
}

/* The batch sym, as the runtime binds it (rt_session.c): the one named B,
 * else the first; -1 without syms. */
static int batch_sym(const IrModule *m) {
  int b = m->nsyms > 0 ? 0 : -1;
  for (int k = 0; k < m->nsyms && k < CG_MAX_SYMS; k++)
    if (!strcmp(m->syms[k], "B")) b = k;
  return b < CG_MAX_SYMS ? b : -1;
}

static CgMono buf_bytes(const IrFunc *f, const CgBuf *b) {
  return cg_mono_bytes(&f->nodes[b->owner].ty, 0);
}

/* Does b's size depend on a sym (in a scaled plan: grow with the batch)? */
static bool buf_batch_sized(const CgPlan *p, const CgBuf *b) {
  CgMono m = buf_bytes(p->f, b);
  for (int k = 0; k < CG_MAX_SYMS; k++)
    if (m.e[k]) return true;
  return false;
}

/* May kernel ki write its export into the memory of buffer `dying` (read
 * last by ki, defined before it)? Only an elementwise kernel whose every
 * read of it is at the written index: the domain's shape, row-major. */
static bool in_place_ok(const CgPlan *p, int ki, int dying, const CgVal **rd, int *nodes) {
  const CgKernel *k = &p->ks[ki];
  /* Only a step of one kernel: parts of one dispatch run at once. */
  if (ki + 1 < p->nks && p->ks[ki + 1].step == ki) return false;
  if (k->kind != CK_EW || k->end || p->bufs[dying].def >= ki) return false;
  int n = cg_kernel_reads(p, k, rd, nodes);
  for (int j = 0; j < n; j++) {
    if (rd[j]->kind != CV_BUF || rd[j]->v.buf != dying) continue;
    const Shape *s = &p->f->nodes[nodes[j]].ty.sh;
    if (!ir_shape_eq(s, &k->domain) || !cg_view_rowmajor(&rd[j]->v, s) || !cg_mono_is(rd[j]->v.off, 0)) return false;
  }
  return true;
}

static void live_ranges(CgPlan *p, const CgVal **rd, int *nodes) {
  for (int b = 0; b < p->nbufs; b++)
    p->bufs[b].def = -1, p->bufs[b].last = -1;
  /* Time is counted in steps (CgKernel.step): the kernels of one
   * dispatch may run at once, so a value one of them reads lives until the
   * whole step is over. */
  for (int i = 0; i < p->nks; i++)
    for (int e = 0; e < p->ks[i].nexp; e++) {
      CgBuf *b = &p->bufs[p->ks[i].exp[e].buf];
      int t = p->ks[i].step;
      if (b->kind != CB_WS) continue;
      if (b->def < 0) b->def = t;
      if (b->last < t) b->last = t;
    }
  for (int i = 0; i < p->nks; i++) {
    int n = cg_kernel_reads(p, &p->ks[i], rd, nodes);
    for (int j = 0; j < n; j++) {
      if (rd[j]->kind != CV_BUF) continue;
      CgBuf *b = &p->bufs[rd[j]->v.buf];
      if (b->kind == CB_WS && b->last < p->ks[i].step) b->last = p->ks[i].step;
    }
  }
}

/* Workspace buffers in definition order. */
static int def_order(const CgPlan *p, int *order) {
  int n = 0;
  for (int i = 0; i < p->nks; i++)
    for (int e = 0; e < p->ks[i].nexp; e++) {
      int b = p->ks[i].exp[e].buf;
      if (p->bufs[b].kind == CB_WS && p->bufs[b].def == p->ks[i].step) order[n++] = b;
    }
  return n;
}

/* Which buffers may take a value in place: may[b], whether b's memory may
 * take a value written by the kernel where b dies (in_place_ok); and, for
 * the split layout, partner[y], the one buffer whose memory y took in the
 * one-arena plan (-1: none), which y must take again there and no other. */
typedef struct InPlace {
  const bool *may;
  const int *partner; /* NULL: any */
} InPlace;

/* Do buffers x and y (live ranges [def, last]) need memory of their own
 * at the same time? Not when one dies in the kernel that writes the other
 * and that write can be in place (then only at the very same offset). */
static bool clash(const CgPlan *p, int x, int y, bool *inplace, const InPlace *ip) {
  const CgBuf *a = &p->bufs[x], *b = &p->bufs[y];
  *inplace = false;
  if (a->last < b->def || b->last < a->def) return false;
  /* In place only element for element: with other element sizes a parallel
   * chunk would write bytes another chunk has yet to read. */
  if (ir_dtype_size(p->f->nodes[a->owner].ty.dt) != ir_dtype_size(p->f->nodes[b->owner].ty.dt)) return true;
  if (a->last == b->def && ip->may[x] && a->def < b->def && (!ip->partner || ip->partner[y] == x))
    return *inplace = true, false;
  if (b->last == a->def && ip->may[y] && b->def < a->def && (!ip->partner || ip->partner[x] == y))
    return *inplace = true, false;
  return true;
}

typedef struct Placed {
  int buf;
  int64_t lo, hi; /* [lo, hi) in bytes at the planned syms */
} Placed;

/* Does [lo, hi) avoid every placed buffer near[] that clashes with b, and
 * meet every in-place partner either not at all or exactly at its offset? */
static bool fits_at(const CgPlan *p, int b, int64_t lo, int64_t hi, const Placed *pl, const int *near, int nnear,
                    const InPlace *ip) {
  for (int k = 0; k < nnear; k++) {
    const Placed *x = &pl[near[k]];
    if (x->hi <= lo || hi <= x->lo) continue;
    bool inplace;
    if (clash(p, b, x->buf, &inplace, ip)) return false;
    if (inplace && x->lo != lo) return false;
  }
  return true;
}

static int cmp_i64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return (a > b) - (a < b);
}

static int cmp_size_desc(const void *x, const void *y) {
  const Placed *a = x, *b = y;
  int64_t sa = a->hi - a->lo, sb = b->hi - b->lo;
  return sa != sb ? (sa < sb) - (sa > sb) : (a->buf > b->buf) - (a->buf < b->buf);
}

static int64_t mono_at(CgMono m, const int64_t *syms) {
  int64_t v = m.c;
  for (int k = 0; k < CG_MAX_SYMS; k++)
    for (int e = 0; e < m.e[k]; e++)
      v *= syms[k];
  return v;
}

/* A buffer's footprint in its slot: its bytes at the planned syms
 * (scaled), or per unit of its size class, rounded so that every offset
 * keeps vector loads on 16-byte (small values) or cache-line (large ones)
 * boundaries. */
static int64_t planned_bytes(const CgPlan *p, const CgBuf *b) {
  CgMono m = buf_bytes(p->f, b);
  return footprint(p->scaled ? mono_at(m, p->plan_syms) : m.c);
}

/* Do a and b share a slot: always when scaled, else when their sizes are
 * of one symbolic class. */
static bool same_slot(const CgPlan *p, const CgBuf *a, const CgBuf *b) {
  return p->scaled || cg_mono_same_syms(buf_bytes(p->f, a), buf_bytes(p->f, b));
}

/* Offsets: greedy by size (Pisarchyk & Lee, "Efficient Memory Management
 * for Deep Neural Net Inference", 2020): largest first, each at the lowest
 * offset where it clashes with nothing placed (an in-place partner's own
 * offset counts as free). */
static int assign(Arena *a, const CgPlan *p, const int *order, int n, const InPlace *ip, int *slot_of,
                  int64_t *at_of) {
  Placed *all = arena_alloc(a, sizeof(Placed) * (size_t)(n + 1));
  bool *done = arena_alloc(a, (size_t)n + 1);
  int64_t *cand = arena_alloc(a, sizeof(int64_t) * (size_t)(n + 2));
  int *near = arena_alloc(a, sizeof(int) * (size_t)(n + 1));
  int nslots = 0;
  for (int first = 0; first < n; first++) {
    if (done[first]) continue;
    /* This slot: every buffer that shares first's (same_slot). */
    int m = 0;
    for (int i = first; i < n; i++) {
      if (done[i] || !same_slot(p, &p->bufs[order[i]], &p->bufs[order[first]])) continue;
      done[i] = true;
      all[m++] = (Placed){order[i], 0, planned_bytes(p, &p->bufs[order[i]])};
    }
    qsort(all, (size_t)m, sizeof *all, cmp_size_desc);
    int slot = nslots++;
    for (int i = 0; i < m; i++) {
      const CgBuf *b = &p->bufs[all[i].buf];
      int64_t size = all[i].hi;
      /* Only buffers placed earlier whose live ranges meet b's matter. */
      int nnear = 0;
      for (int j = 0; j < i; j++) {
        const CgBuf *x = &p->bufs[all[j].buf];
        if (x->last >= b->def && b->last >= x->def) near[nnear++] = j;
      }
      int64_t best = -1;
      for (int k = 0; k < nnear && best < 0; k++) {
        bool inplace;
        clash(p, all[i].buf, all[near[k]].buf, &inplace, ip);
        int64_t lo = all[near[k]].lo;
        if (inplace && fits_at(p, all[i].buf, lo, lo + size, all, near, nnear, ip)) best = lo;
      }
      /* Else the lowest offset that fits: 0, or the end of a near buffer. */
      int nc = 0;
      cand[nc++] = 0;
      for (int k = 0; k < nnear; k++)
        cand[nc++] = all[near[k]].hi;
      qsort(cand, (size_t)nc, sizeof *cand, cmp_i64);
      for (int c = 0; c < nc && best < 0; c++)
        if (fits_at(p, all[i].buf, cand[c], cand[c] + size, all, near, nnear, ip)) best = cand[c];
      if (best < 0) unreachable("memplan: no offset fits (the end of every buffer is a candidate)");
      all[i].lo = best, all[i].hi = best + size;
      slot_of[all[i].buf] = slot;
      at_of[all[i].buf] = best;
    }
  }
  return nslots;
}

/* The split layout of a scaled plan, for sym values past the planned
 * ones: the fixed-size values (weight gradients, the embedding's among
 * them) planned among themselves in the arena's first split_fixed bytes,
 * and the batch-sized ones among themselves after them, at offsets
 * multiplied by the scale. The one-arena plan multiplies every offset,
 * a fixed value's too: at 8x the train batch, text_lstm's 2.6 MB embedding
 * gradient took 21 MB. Each layout is valid at every scale (the intervals of
 * values alive at once stay disjoint), so the step function takes
 * whichever needs fewer bytes at the syms it is called with
 * (cg_mem_split). But kernels are built once for both: a kernel passes
 * two buffers at one offset as one pointer (nest.c, same_mem), and two
 * others as noalias pointers. So a value written in place of another in
 * the one-arena plan must be in place here too, and no other pair may be:
 * in place only with that partner (InPlace.partner), and where the greedy
 * cannot put a value on its partner, there is no split layout. A value and
 * its partner have one shape, so they land in one region. */
static void split_layout(Arena *a, CgPlan *p, const int *order, int n, const bool *may) {
  int *sub = arena_alloc(a, sizeof(int) * (size_t)(n + 1));
  int *slot_of = arena_alloc(a, sizeof(int) * (size_t)(p->nbufs + 1));
  int64_t *at_of = arena_alloc(a, sizeof(int64_t) * (size_t)(p->nbufs + 1));
  int *partner = arena_alloc(a, sizeof(int) * (size_t)(p->nbufs + 1));
  for (int b = 0; b < p->nbufs; b++) partner[b] = -1;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      const CgBuf *x = &p->bufs[order[j]], *y = &p->bufs[order[i]];
      if (i != j && may[order[j]] && x->last == y->def && x->def < y->def && x->index == y->index && x->at == y->at)
        partner[order[i]] = order[j];
    }
  InPlace ip = {may, partner};
  int64_t top[2] = {0, 0};
  for (int batch = 0; batch < 2; batch++) {
    int m = 0;
    for (int i = 0; i < n; i++)
      if (buf_batch_sized(p, &p->bufs[order[i]]) == batch) sub[m++] = order[i];
    assign(a, p, sub, m, &ip, slot_of, at_of);
    for (int i = 0; i < m; i++) {
      CgBuf *b = &p->bufs[sub[i]];
      b->split_at = at_of[sub[i]], b->split_scaled = batch;
      if (b->split_at + planned_bytes(p, b) > top[batch]) top[batch] = b->split_at + planned_bytes(p, b);
    }
  }
  p->split_fixed = (top[0] + 63) / 64 * 64;
  p->split_batch = top[1];
  p->has_split = true;
  for (int i = 0; i < n; i++) {
    const CgBuf *y = &p->bufs[order[i]];
    if (partner[order[i]] < 0) continue;
    const CgBuf *x = &p->bufs[partner[order[i]]];
    if (x->split_scaled != y->split_scaled || x->split_at != y->split_at) p->has_split = false;
  }
}

/* Slots as the IR records them: each buffer's from its owner's IrNode.slot.
 * The record must be one this file could have made: one that puts two live
 * values in the same bytes (hand-written IR) sets p->bad_memory, which every
 * user of the plan reports as an error. */
static bool take_recorded(CgPlan *p, const int *order, int n, const InPlace *ip) {
  const IrFunc *f = p->f;
  int ns = 0;
  for (int i = 0; i < n; i++) {
    CgBuf *b = &p->bufs[order[i]];
    const IrNode *nd = &f->nodes[b->owner];
    if (nd->slot < 0 || nd->slot > f->n || nd->offset < 0) {
      p->bad_memory = arena_printf(p->arena, "%s: %%%d (%s) is kept in the workspace but has no slot and offset",
                                   f->name, b->owner, ir_ops[nd->op].mnemonic);
      return false;
    }
    b->index = nd->slot, b->at = nd->offset;
    if ((p->scaled && b->index != 0) || b->at % 16) {
      p->bad_memory = arena_printf(p->arena, "%s: %%%d (%s) is in slot %d at offset %lld; %s, offsets multiples of 16",
                                   f->name, b->owner, ir_ops[nd->op].mnemonic, b->index, (long long)b->at,
                                   p->scaled ? "this function's workspace is slot 0" : "slots hold one size class");
      return false;
    }
    if (b->index >= ns) ns = b->index + 1;
    int64_t sb = planned_bytes(p, b);
    for (int j = 0; j < i; j++) {
      const CgBuf *o = &p->bufs[order[j]];
      int64_t so = planned_bytes(p, o);
      if (o->index != b->index || o->at + so <= b->at || b->at + sb <= o->at) continue;
      bool inplace;
      if (!same_slot(p, b, o) || clash(p, order[i], order[j], &inplace, ip) || (inplace && o->at != b->at)) {
        p->bad_memory = arena_printf(p->arena, "%s: %%%d (%s) shares workspace bytes with %%%d (%s), alive at once",
                                     f->name, b->owner, ir_ops[nd->op].mnemonic, o->owner,
                                     ir_ops[f->nodes[o->owner].op].mnemonic);
        return false;
      }
    }
  }
  p->nslots = ns;
  return true;
}

void cg_memplan(Arena *a, CgPlan *p) {
  const IrFunc *f = p->f;
  size_t cap = (size_t)(IR_MAX_ARGS * f->n + f->nrets + 2);
  const CgVal **rd = arena_alloc(a, sizeof(CgVal *) * cap);
  int *nodes = arena_alloc(a, sizeof(int) * cap);
  cg_plan_point(f->mod, p->plan_syms);
  live_ranges(p, rd, nodes);
  int *order = arena_alloc(a, sizeof(int) * (size_t)(p->nbufs + 1));
  int n = def_order(p, order);
  /* Scaled when no size depends on a sym the plan cannot know (one other
   * than the batch, which cg_plan_point binds to 1: a sequence length bound
   * from the data), whose scale would multiply every other buffer's bytes
   * too. The batch is known even where the train block says batch 1. */
  int batch = batch_sym(f->mod);
  p->scaled = true;
  for (int i = 0; i < n && p->scaled; i++) {
    CgMono m = buf_bytes(f, &p->bufs[order[i]]);
    for (int k = 0; k < CG_MAX_SYMS; k++)
      if (m.e[k] && k != batch && p->plan_syms[k] == 1) p->scaled = false;
  }
  /* Whether each buffer's memory may take, in place, a value written by the
   * kernel where it dies (in_place_ok, asked once per buffer). */
  bool *may = arena_alloc(a, (size_t)p->nbufs + 1);
  for (int i = 0; i < n; i++)
    may[order[i]] =
        p->bufs[order[i]].last > p->bufs[order[i]].def && in_place_ok(p, p->bufs[order[i]].last, order[i], rd, nodes);
  InPlace ip = {may, NULL};
  /* A record that breaks the rule (hand-written IR) is reported by the
   * plan's users (p->bad_memory); the plan stays usable, placed here. */
  /* The pass records the default options' plan (CgPlanOptions). */
  if (!f->mem_planned || p->no_summed_gemm || !take_recorded(p, order, n, &ip)) {
    int *slot_of = arena_alloc(a, sizeof(int) * (size_t)(p->nbufs + 1));
    int64_t *at_of = arena_alloc(a, sizeof(int64_t) * (size_t)(p->nbufs + 1));
    p->nslots = assign(a, p, order, n, &ip, slot_of, at_of);
    for (int i = 0; i < n; i++)
      p->bufs[order[i]].index = slot_of[order[i]], p->bufs[order[i]].at = at_of[order[i]];
  }
  if (p->scaled) split_layout(a, p, order, n, may);
  /* A slot is as large as its highest end; scaled, the scale looks at each
   * distinct size monomial once. */
  p->slot_size = arena_alloc(a, sizeof(CgMono) * (size_t)(p->nslots + 1));
  p->slot_unit = arena_alloc(a, sizeof(CgMono) * (size_t)(p->nslots + 1));
  p->units = arena_alloc(a, sizeof(CgMono) * (size_t)(n + 1));
  p->nunits = 0;
  p->arena0 = 0;
  for (int i = 0; i < n; i++) {
    const CgBuf *b = &p->bufs[order[i]];
    CgMono unit = buf_bytes(f, b);
    unit.c = 1;
    int64_t end = b->at + planned_bytes(p, b);
    if (p->scaled) {
      int u = 0;
      while (u < p->nunits && !cg_mono_eq(p->units[u], unit))
        u++;
      if (u == p->nunits) p->units[p->nunits++] = unit;
      unit = cg_mono(1);
      if (end > p->arena0) p->arena0 = end;
    }
    p->slot_unit[b->index] = unit;
    if (p->slot_size[b->index].c < end) p->slot_size[b->index] = cg_mono_mul(unit, cg_mono(end));
  }
}

void cg_plan_point(const IrModule *m, int64_t *syms) {
  int b = batch_sym(m);
  for (int k = 0; k < CG_MAX_SYMS; k++)
    syms[k] = 1;
  if (b >= 0) syms[b] = m->train.batch > 0 ? m->train.batch : 64;
}

int64_t cg_mem_scale(const CgPlan *p, const int64_t *syms) {
  int64_t s = 1;
  for (int u = 0; u < p->nunits; u++) {
    int64_t at = mono_at(p->units[u], syms), planned = mono_at(p->units[u], p->plan_syms);
    int64_t need = (at + planned - 1) / planned;
    if (need > s) s = need;
  }
  return s;
}

bool cg_mem_split(const CgPlan *p, int64_t scale) {
  return p->scaled && p->has_split && p->nslots == 1 && p->split_fixed + p->split_batch * scale < p->arena0 * scale;
}

/* ---- what it costs ---- */

static int64_t align64(int64_t v) { return (v + 63) / 64 * 64; }

int64_t cg_mem_live_bytes(const CgPlan *p, int b, int i, const int64_t *syms) {
  const CgBuf *x = &p->bufs[b];
  if (x->kind != CB_WS || x->def < 0 || x->def > i || x->last < i) return 0;
  /* An in-place write shares its input's bytes in the kernel where one
   * dies and the other is born: count the pair once there. */
  if (x->def == i)
    for (int o = 0; o < p->nbufs; o++)
      if (o != b && p->bufs[o].kind == CB_WS && p->bufs[o].index == x->index && p->bufs[o].at == x->at &&
          p->bufs[o].last == i && p->bufs[o].def < i)
        return 0;
  return mono_at(buf_bytes(p->f, x), syms);
}

CgMemStats cg_memstats(const CgPlan *p, const int64_t *syms) {
  CgMemStats st = {0};
  int64_t scale = cg_mem_scale(p, syms);
  for (int s = 0; s < p->nslots; s++)
    st.arena += align64(mono_at(p->slot_size[s], syms) * scale);
  if (cg_mem_split(p, scale)) st.arena = align64(p->split_fixed + p->split_batch * scale), st.split = true;
  /* The lower bound: the most bytes live at once over the kernel order. */
  for (int i = 0; i < p->nks; i++) {
    int64_t live = 0;
    for (int b = 0; b < p->nbufs; b++)
      live += cg_mem_live_bytes(p, b, i, syms);
    if (live > st.lower) st.lower = live, st.peak = i;
  }
  return st;
}
