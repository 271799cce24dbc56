/* views.c — symbolic sizes, and how free nodes are read without copying.
 *
 * reshape, transpose, broadcast and slice move no data here: each is a view
 * (a buffer, a stride per dim, and an offset: where a slice starts) of its
 * operand's storage, which consumers
 * fold into their indexing (a transpose feeding an elementwise kernel is a
 * strided load; feeding a matmul, it flips sgemm's trans flag). const and
 * dim are uniform values, inlined wherever they are read. A free node is
 * materialised (copied into a buffer of its own by a small kernel) only when
 * a consumer cannot take its view: sgemm needs a unit stride on one axis,
 * reshape needs the axes it merges contiguous with each other
 * (reshape_view), onehot reads labels from memory, the
 * window and gather kernels (convolution, embedding, dropout) index their
 * operands as contiguous arrays, and a store must not read a global
 * another store overwrites. */
#include <string.h>

#include "plan.h"

/* ---- symbolic sizes ---- */

CgMono cg_mono(int64_t c) {
  CgMono m;
  memset(&m, 0, sizeof m);
  m.c = c;
  return m;
}

CgMono cg_mono_dim(int64_t d) {
  if (!IR_IS_SYM(d)) return cg_mono(d);
  CgMono m = cg_mono(1);
  int k = IR_SYM_INDEX(d);
  if (k >= CG_MAX_SYMS) unreachable("too many symbolic dims");
  m.e[k] = 1;
  return m;
}

/* a + b when they are of one symbolic class (or one is 0); else a, and
 * cg_mark_mat materialises the operand so that the sum never has to be
 * taken. */
static CgMono mono_add(CgMono a, CgMono b) {
  if (b.c == 0) return a;
  if (a.c == 0) return b;
  if (cg_mono_same_syms(a, b)) a.c += b.c;
  return a;
}

CgMono cg_mono_mul(CgMono a, CgMono b) {
  CgMono m = cg_mono(a.c * b.c);
  if (m.c == 0) return m;
  for (int k = 0; k < CG_MAX_SYMS; k++)
    m.e[k] = (uint8_t)(a.e[k] + b.e[k]);
  return m;
}

bool cg_mono_same_syms(CgMono a, CgMono b) { return !memcmp(a.e, b.e, sizeof a.e); }

bool cg_mono_eq(CgMono a, CgMono b) {
  if (a.c == 0 || b.c == 0) return a.c == b.c;
  return a.c == b.c && cg_mono_same_syms(a, b);
}

bool cg_mono_is(CgMono a, int64_t c) { return cg_mono_eq(a, cg_mono(c)); }

CgMono cg_mono_numel(const Shape *s, int from) {
  CgMono m = cg_mono(1);
  for (int i = from; i < s->rank; i++)
    m = cg_mono_mul(m, cg_mono_dim(s->d[i]));
  return m;
}

CgMono cg_mono_bytes(const Type *t, int from) { return cg_mono_mul(cg_mono_numel(&t->sh, from), cg_mono(ir_dtype_size(t->dt))); }

/* ---- views ---- */

void cg_view_contig(CgView *v, int buf, const Shape *s) {
  v->buf = buf;
  v->off = cg_mono(0);
  for (int i = 0; i < s->rank; i++)
    v->st[i] = cg_mono_numel(s, i + 1);
}

bool cg_view_rowmajor(const CgView *v, const Shape *s) {
  for (int i = 0; i < s->rank; i++)
    if (s->d[i] != 1 && !cg_mono_eq(v->st[i], cg_mono_numel(s, i + 1))) return false;
  return true;
}

/* The view of `in` (shape `from`) reshaped to `to`, without a copy: false
 * when there is none. Row-major input: the contiguous view. Else the dims
 * of size above 1 are matched in groups of equal products (from's axes
 * i0..i1 against to's j0..j1: a split, a merge, or one axis alone); a group
 * is a view when from's axes in it are contiguous with each other (each
 * stride the next one's times its size), and then to's axes in it take the
 * strides of a row-major block that ends at from's innermost stride. A
 * group with a symbolic size must be that one axis alone on both sides.
 * The slices of a fused projection (char_gpt's q, k and v: [B, T, 3 D]
 * sliced along the last axis, then split into heads [B, T, H, D/H]) read
 * this way instead of through a copy each. */
static bool reshape_view(const CgView *in, const Shape *from, const Shape *to, CgView *out) {
  *out = *in;
  if (cg_view_rowmajor(in, from)) {
    cg_view_contig(out, in->buf, to);
    out->off = in->off;
    return true;
  }
  int fi[IR_MAX_RANK], ti[IR_MAX_RANK], nf = 0, nt = 0;
  for (int i = 0; i < from->rank; i++)
    if (from->d[i] != 1) fi[nf++] = i;
  for (int j = 0; j < to->rank; j++)
    if (to->d[j] != 1) ti[nt++] = j;
  CgMono st[IR_MAX_RANK];
  int a = 0, b = 0;
  while (a < nf && b < nt) {
    int a1 = a, b1 = b;
    CgMono pf = cg_mono_dim(from->d[fi[a]]), pt = cg_mono_dim(to->d[ti[b]]);
    while (!cg_mono_eq(pf, pt)) {
      /* growing the smaller side needs both sizes known */
      if (!cg_mono_same_syms(pf, cg_mono(1)) || !cg_mono_same_syms(pt, cg_mono(1))) return false;
      if (pf.c < pt.c) {
        if (++a1 == nf) return false;
        pf = cg_mono_mul(pf, cg_mono_dim(from->d[fi[a1]]));
      } else {
        if (++b1 == nt) return false;
        pt = cg_mono_mul(pt, cg_mono_dim(to->d[ti[b1]]));
      }
    }
    for (int k = a; k < a1; k++)
      if (!cg_mono_eq(in->st[fi[k]], cg_mono_mul(in->st[fi[k + 1]], cg_mono_dim(from->d[fi[k + 1]])))) return false;
    st[ti[b1]] = in->st[fi[a1]];
    for (int k = b1 - 1; k >= b; k--)
      st[ti[k]] = cg_mono_mul(st[ti[k + 1]], cg_mono_dim(to->d[ti[k + 1]]));
    a = a1 + 1, b = b1 + 1;
  }
  if (a < nf || b < nt) return false;
  /* size-1 axes: the stride a row-major layout would give them */
  CgMono next = cg_mono(1);
  for (int j = to->rank - 1; j >= 0; j--) {
    if (to->d[j] == 1) st[j] = next;
    else next = cg_mono_mul(st[j], cg_mono_dim(to->d[j]));
    out->st[j] = st[j];
  }
  return true;
}

int cg_buf_new(Arena *a, CgPlan *p, CgBufKind kind, int index, int owner) {
  if (p->nbufs == p->bufcap) {
    int nc = p->bufcap ? 2 * p->bufcap : 32;
    p->bufs = arena_grow(a, p->bufs, (size_t)p->bufcap, (size_t)nc, sizeof *p->bufs);
    p->bufcap = nc;
  }
  p->bufs[p->nbufs] = (CgBuf){.kind = kind, .index = index, .owner = owner, .def = -1, .last = -1};
  return p->nbufs++;
}

/* The buffer a node owns when its kernel writes it (created on first need). */
static int own_buf(Arena *a, CgPlan *p, int *own, int n) {
  if (own[n] < 0) own[n] = cg_buf_new(a, p, CB_WS, -1, n);
  return own[n];
}

/* The value of free node n computed from its operands (a view or uniform). */
static CgVal derive(const CgPlan *p, const IrModule *m, int n, int input_buf0) {
  const IrNode *nd = &p->f->nodes[n];
  const Shape *s = &nd->ty.sh;
  CgVal r = {.kind = CV_NONE};
  const CgVal *a = nd->nargs ? &p->val[nd->args[0]] : NULL;
  const Shape *as = nd->nargs ? &p->f->nodes[nd->args[0]].ty.sh : NULL;
  switch (nd->op) {
  case OP_CONST:
    r.kind = CV_CONST, r.cval = nd->at.value;
    break;
  case OP_DIM:
    r.kind = CV_DIM, r.axis = nd->at.axis, r.dim_of = nd->args[0];
    break;
  case OP_GLOBAL:
    r.kind = CV_BUF, cg_view_contig(&r.v, ir_global_find(m, nd->at.name), s);
    break;
  case OP_INPUT:
    r.kind = CV_BUF, cg_view_contig(&r.v, input_buf0 + nd->at.index, s);
    break;
  case OP_RESHAPE:
    r = *a;
    /* No view of it (reshape_view): the operand gets materialised
     * (cg_mark_mat), after which this reads its contiguous copy. */
    if (r.kind == CV_BUF && !reshape_view(&a->v, as, s, &r.v)) cg_view_contig(&r.v, a->v.buf, s), r.v.off = a->v.off;
    break;
  case OP_SLICE: /* the same strides, from the start index on */
    r = *a;
    if (r.kind == CV_BUF)
      r.v.off = mono_add(a->v.off, cg_mono_mul(a->v.st[nd->at.axis], cg_mono(nd->at.start)));
    break;
  case OP_TRANSPOSE:
    r = *a;
    if (r.kind == CV_BUF)
      for (int i = 0; i < s->rank; i++)
        r.v.st[i] = a->v.st[nd->at.axes[i]];
    break;
  case OP_BROADCAST:
    r = *a;
    if (r.kind == CV_BUF)
      for (int i = 0; i < s->rank; i++) {
        int j = i - (s->rank - as->rank);
        r.v.st[i] = j < 0 || (as->d[j] == 1 && s->d[i] != 1) ? cg_mono(0) : a->v.st[j];
      }
    break;
  default:
    break;
  }
  return r;
}

int cg_view_blas(const CgView *v, const Shape *s) {
  if (cg_view_rowmajor(v, s)) return 0;
  Shape t = {.rank = 2, .d = {s->d[1], s->d[0]}};
  CgView tv = {.buf = v->buf, .st = {v->st[1], v->st[0]}};
  return cg_view_rowmajor(&tv, &t) ? 1 : -1;
}

/* Sets mat on free node n; returns whether it changed. */
static bool need_mat(CgPlan *p, int n) {
  const IrNode *nd = &p->f->nodes[n];
  if (cg_is_kernel_op(nd->op) || p->mat[n]) return false;
  p->mat[n] = true;
  return true;
}

bool cg_mark_mat(CgPlan *p) {
  const IrFunc *f = p->f;
  bool changed = false;
  for (int n = 0; n < f->n; n++) {
    const IrNode *nd = &f->nodes[n];
    for (int i = 0; i < nd->nargs; i++) {
      int a = nd->args[i];
      const CgVal *v = &p->val[a];
      const Shape *as = &f->nodes[a].ty.sh;
      bool bad = false;
      if (nd->op == OP_MATMUL) /* a batch of products walks contiguous matrices (k_misc.c) */
        bad = v->kind != CV_BUF || (as->rank >= 3 ? !cg_view_rowmajor(&v->v, as) : cg_view_blas(&v->v, as) < 0);
      else if (nd->op == OP_ONEHOT || op_is(nd->op, OPF_RANGE)) /* k_misc.c loads them through their views */
        bad = v->kind != CV_BUF || !cg_mono_is(v->v.off, 0);
      else if (op_is(nd->op, OPF_WINDOW | OPF_GATHER | OPF_QGEMM) || nd->op == OP_SCAN) /* indexed directly */
        bad = v->kind != CV_BUF || !cg_view_rowmajor(&v->v, as) || !cg_mono_is(v->v.off, 0);
      else if (nd->op == OP_SLICE && v->kind == CV_BUF && v->v.off.c) { /* offsets add within one class */
        CgMono more = cg_mono_mul(v->v.st[nd->at.axis], cg_mono(nd->at.start));
        bad = more.c && !cg_mono_same_syms(v->v.off, more);
      }
      else if (nd->op == OP_RESHAPE) {
        CgView rv;
        bad = v->kind == CV_BUF && !reshape_view(&v->v, as, &nd->ty.sh, &rv);
      }
      else if (nd->op == OP_STORE && v->kind == CV_BUF && v->v.buf < p->nglobals) {
        /* A store reading a global that some store overwrites: the end-of-step
         * copies would race, so take a copy while the value is still old. */
        const char *name = p->f->mod->globals[v->v.buf].name;
        for (int s = 0; s < f->n && !bad; s++)
          bad = f->nodes[s].op == OP_STORE && !strcmp(f->nodes[s].at.name, name);
      }
      if (bad) changed |= need_mat(p, a);
    }
  }
  return changed;
}

void cg_views(CgPlan *p, const IrModule *m) {
  const IrFunc *f = p->f;
  for (int n = 0; n < f->n; n++) {
    const IrNode *nd = &f->nodes[n];
    bool kern = cg_is_kernel_op(nd->op);
    if (nd->op == OP_SCAN) { /* no value of its own: scan_outs hold its results */
      p->src[n] = p->val[n] = (CgVal){.kind = CV_NONE};
      continue;
    }
    p->src[n] = kern ? (CgVal){.kind = CV_NONE} : derive(p, m, n, p->nglobals);
    if (kern || p->mat[n]) {
      p->val[n] = (CgVal){.kind = CV_BUF};
      cg_view_contig(&p->val[n].v, own_buf(p->arena, p, p->own, n), &nd->ty.sh);
    } else {
      p->val[n] = p->src[n];
    }
  }
}
