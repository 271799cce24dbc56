/* prune_axes.h — structured pruning's analysis (prune_axes.c): which axes
 * of which values and globals index the same hidden units, found by
 * dataflow; prune_structured.c picks the units to remove and rewrites them.
 *
 * A *unit group* is the set of (value or global, axis) pairs that a layer's
 * output units run along: a dense layer's weight columns, its bias, the
 * activations through every elementwise op, broadcast, reshape and
 * transpose, in every function, up to the contraction that sums over them
 * (the next layer's weight rows, or a next conv's input channels). Each
 * pair holds the units in a layout: its axis is outer x n x inner, and unit
 * u owns the indices o n inner + u inner + i (a flatten [B,C,H,W] ->
 * [B,C*H*W] puts channel u at a block of H*W; inner = H*W). */
#ifndef NNC_PRUNE_AXES_H
#define NNC_PRUNE_AXES_H
#include "passes.h"

typedef struct PsMember {
  int fn; /* index in IrModule.funcs, or -1: a global */
  int id; /* value id in that function, or global index */
  int axis;
  int64_t outer, inner;
  /* A global the next layer reads as the contraction's operand (its rows
   * or input channels): it loses the units' slices, but its values are not
   * the units' incoming weights, so the criterion leaves them out. */
  bool consumes;
} PsMember;

typedef struct PsGroup {
  int64_t n;           /* units */
  int seed, seed_axis; /* the global (a dense or conv weight) and axis it was found from */
  PsMember *mem;
  int nmem, cap;
  /* NULL: the units may go; else why they stay (an op on their path that
   * the analysis does not understand), with the node that said so. */
  const char *why;
} PsGroup;

/* Every unit group of m, seeded by the output axis of each param weight a
 * matmul (the right operand, 2-d) or conv2d reads, in module order; a weight
 * already in a group seeds none. */
PsGroup *ps_find_groups(Arena *a, const IrModule *m, int *ngroups);

#endif
