/* scan_rows.c — can a scan run on a subset of its batch rows on its own?
 *
 * An LSTM's time loop is a chain of small kernels per step; on several
 * threads each of them is a dispatch and a barrier, 28 per row of a
 * Fashion-MNIST image. But row b of every carry, sequence step and output
 * depends only on row b of the others: the whole loop can run on blocks of
 * rows, each block on its own thread with no barrier at all (the CPU
 * backend's k_scan.c does that). This file decides when that is legal.
 *
 * The batch axis is the leading dim of the body's first carry (of its
 * first sequence without carries), which must be symbolic: call it B. Every
 * body value is classified as
 *   ROW     leading dim B, no other dim B, and row b computed from row b of
 *           ROW operands and from SHARED ones alone;
 *   SHARED  no dim B and computed from SHARED values alone (a weight, its
 *           transpose, a constant): every block computes the same value.
 * An op joins ROW only by a rule that keeps rows apart (below); anything
 * else — a matmul contracting over B (a weight gradient h^T.dg), a
 * reduction or a softmax over axis 0, `dim` of axis 0, dropout (its mask
 * follows the element's flat index, so a block would draw other bits),
 * embedding_grad (adds rows into one table), windows, nested scans,
 * globals — makes the scan unsplittable. So do embedding and onehot,
 * though they keep rows apart: an id out of range reports its row to the
 * runtime (nnrt_fail_id), and in a block that row would be the block's,
 * not the batch's. Every body result must be ROW. */
#include <stdlib.h>

#include "ir.h"

enum { NONE, ROW, SHARED };

static bool has_dim(const Shape *s, int64_t d, int from) {
  for (int i = from; i < s->rank; i++)
    if (s->d[i] == d) return true;
  return false;
}

/* The class a value of shape s would have: ROW, SHARED or NONE (B elsewhere). */
static int class_of_shape(const Shape *s, int64_t B) {
  if (s->rank > 0 && s->d[0] == B) return has_dim(s, B, 1) ? NONE : ROW;
  return has_dim(s, B, 0) ? NONE : SHARED;
}

static int norm_axis(int axis, int rank) { return axis < 0 ? axis + rank : axis; }

/* The class of node n given its operands' classes cls[], by the op's rule. */
static int classify(const IrFunc *f, const IrNode *n, const int *cls, int64_t B) {
  int self = class_of_shape(&n->ty.sh, B);
  bool any_row = false;
  for (int a = 0; a < n->nargs; a++) {
    if (cls[n->args[a]] == NONE) return NONE;
    any_row |= cls[n->args[a]] == ROW;
  }
  if (self == NONE) return NONE;
  if (n->op == OP_CONST) return self; /* every row the same value */
  if (!any_row) { /* SHARED operands: SHARED, if the op is a pure function of them */
    if (n->op == OP_DROPOUT || n->op == OP_GLOBAL || n->op == OP_SCAN || n->op == OP_SCAN_OUT || op_is(n->op, OPF_EFFECT))
      return NONE;
    return self == SHARED ? SHARED : n->op == OP_BROADCAST ? ROW : NONE;
  }
  if (self != ROW) return n->op == OP_DIM && n->at.axis != 0 ? SHARED : NONE;
  const IrNode *x = &f->nodes[n->args[0]];
  int rank = n->ty.sh.rank;
  /* A ROW operand must line its rows up with the result's: the same rank. */
  for (int a = 0; a < n->nargs; a++)
    if (cls[n->args[a]] == ROW && f->nodes[n->args[a]].ty.sh.rank != rank && !op_is(n->op, OPF_REDUCE) &&
        n->op != OP_RESHAPE && n->op != OP_MATMUL)
      return NONE;
  if (op_is(n->op, OPF_ELEMWISE)) return ROW;
  switch (n->op) {
  case OP_SUM:
  case OP_MEAN:
  case OP_MAX:
    for (int i = 0; i < n->at.naxes; i++)
      if (norm_axis((int)n->at.axes[i], x->ty.sh.rank) == 0) return NONE;
    return ROW;
  case OP_SOFTMAX:
  case OP_LOG_SOFTMAX:
    return norm_axis(n->at.axis, rank) != 0 ? ROW : NONE;
  case OP_SLICE:
  case OP_CONCAT:
    return norm_axis(n->at.axis, rank) != 0 ? ROW : NONE;
  case OP_CAUSAL_MASK: /* the last two axes */
    return rank >= 3 ? ROW : NONE;
  case OP_TRANSPOSE:
    return n->at.naxes > 0 && n->at.axes[0] == 0 ? ROW : NONE;
  case OP_RESHAPE: /* row-major, leading B kept: row b stays row b */
    return x->ty.sh.rank > 0 && x->ty.sh.d[0] == B ? ROW : NONE;
  case OP_BROADCAST:
    return ROW; /* a ROW operand has the result's rank (above): axis 0 stays */
  case OP_MATMUL: {
    int ca = cls[n->args[0]], cb = cls[n->args[1]];
    const Shape *sa = &x->ty.sh, *sb = &f->nodes[n->args[1]].ty.sh;
    if (rank == 2) /* [B,K] x [K,N]: rows of A are rows of C */
      return ca == ROW && !n->at.ta && cb == SHARED ? ROW : NONE;
    /* rank 3: a batch of products over axis 0 */
    if (ca == ROW && sa->rank == rank && (cb == SHARED ? sb->rank == 2 : sb->rank == rank)) return ROW;
    return NONE;
  }
  default:
    return NONE;
  }
}

bool ir_scan_rows(const IrModule *m, const IrNode *S, IrScanRows *out) {
  const IrFunc *body = ir_scan_body(m, &S->at);
  int nc = S->at.ncarry, nin = S->nargs;
  if (!body || nin < 1 || nin > IR_MAX_ARGS || (nc == 0 && S->at.nseq == 0)) return false;
  /* B: the leading dim of the first carry (first sequence step) */
  const Type *t0 = NULL;
  for (int i = 0; i < body->n && !t0; i++)
    if (body->nodes[i].op == OP_INPUT && body->nodes[i].at.index == 0) t0 = &body->nodes[i].ty;
  if (!t0 || t0->sh.rank < 1 || t0->sh.d[0] >= 0) return false;
  int64_t B = t0->sh.d[0];
  for (int a = 0; a < nin; a++)
    out->row[a] = a < nc; /* a carry's rows are the result's: ROW even if unread */
  int *cls = calloc((size_t)body->n + 1, sizeof *cls);
  if (!cls) return false;
  bool ok = true;
  for (int i = 0; ok && i < body->n; i++) {
    const IrNode *n = &body->nodes[i];
    if (n->op == OP_INPUT) {
      int a = n->at.index;
      cls[i] = class_of_shape(&n->ty.sh, B);
      /* carries and sequence steps carry the rows; a constant may be either */
      if (a < 0 || a >= nin || cls[i] == NONE || (a < nc && cls[i] != ROW)) ok = false;
      else out->row[a] = cls[i] == ROW;
    } else {
      cls[i] = classify(body, n, cls, B);
      ok = cls[i] != NONE;
    }
  }
  for (int r = 0; ok && r < body->nrets; r++)
    ok = cls[body->rets[r]] == ROW;
  free(cls);
  if (!ok) return false;
  out->sym = (int)(-B - 1);
  return true;
}
