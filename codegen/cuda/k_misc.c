/* k_misc.c — onehot and the copies that look at indices (concat,
 * causal_mask) as CUDA C; a slice is a view, read in place by its
 * consumers through its offset.
 *
 * Each is a grid-stride loop over the result's elements, consecutive
 * threads on consecutive elements (coalesced stores; the operands' reads
 * coalesce wherever their views are contiguous). The index variables come
 * from an evaluation without values (expr.c, CuEw): its extra accesses are
 * the result's contiguous store and the operands' views, and the axis the
 * kernel looks at is tagged apart, so that its variable is that axis's
 * index (codegen/cpu/k_misc.c's loop of its own).
 *
 * onehot writes each element branch-free as (label == class), so an
 * out-of-range label can never write out of bounds: its row is all zeros.
 * NOT YET REPORTED: the CPU's kernel also calls nnrt_fail_label, but a
 * CUDA kernel has no channel to the host for it (the prelude would need a
 * device-side failure record that the runtime reads after each step). */
#include "cuda.h"

enum { MISC_BLOCK = 256 };

/* The index of domain dim d at the current element ("0LL": a static size-1
 * dim, which has no variable). */
static void dim_index(CuSrc *s, const CuEw *E, int d) {
  int v = cu_ew_var_of(E, d);
  if (v < 0) cu_printf(s, "0LL");
  else cu_printf(s, "%s%d", E->ix, v);
}

/* ---- onehot ---- */

bool cu_kernel_onehot(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l) {
  const IrNode *root = &p->f->nodes[k->root];
  const Shape *dom = &k->domain;
  const CgVal *lv = &p->val[root->args[0]];
  DType ldt = p->f->nodes[root->args[0]].ty.dt;
  int r = dom->rank, tags[IR_MAX_RANK] = {0};
  if (lv->kind != CV_BUF) return cu_gen_fail(g, "%s: onehot labels not in memory", p->f->name);
  tags[r - 1] = 1;
  CgMono extra[2][IR_MAX_RANK];
  for (int d = 0; d < r; d++) {
    extra[0][d] = cg_mono_numel(dom, d + 1);
    extra[1][d] = d < r - 1 ? lv->v.st[d] : cg_mono(0);
  }
  CuSrc *s = &g->src;
  cu_kernel_open(g, p, index, "onehot", MISC_BLOCK, 0, l);
  l->work = cg_mono_numel(dom, 0);
  CuEw E;
  cu_ew_init(&E, g, p, k, l, "i", NULL, 0, tags, extra, 2);
  cu_for_elems(s, "t");
  cu_ew_unflatten(&E, s, "t", cu_ew_all(&E));
  cu_printf(s, "long long lab = (long long)");
  if (!cu_buf_ptr(g, p, l, s, lv->v.buf, ldt)) return false;
  cu_printf(s, "[");
  cu_ew_offset(&E, s, 1, cu_ew_all(&E));
  cu_printf(s, "];\n");
  if (!cu_buf_ptr(g, p, l, s, k->exp[0].buf, DT_F32)) return false;
  cu_printf(s, "[");
  cu_ew_offset(&E, s, 0, cu_ew_all(&E));
  cu_printf(s, "] = lab == ");
  dim_index(s, &E, r - 1);
  cu_printf(s, " ? 1.f : 0.f;\n}\n");
  cu_kernel_close(g);
  return true;
}

/* ---- concat, causal_mask ---- */

/* Accesses: 0 the result, 1 and 2 the operands in the result's coordinates;
 * concat reads b's element at its own index along the axis, the result's
 * minus a's size there. */
bool cu_kernel_range(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l) {
  const IrNode *root = &p->f->nodes[k->root];
  const Shape *dom = &k->domain;
  DType dt = root->ty.dt;
  int r = dom->rank, ax = root->at.axis, nsrc = root->nargs, tags[IR_MAX_RANK] = {0};
  const CgVal *sv[2];
  CgMono extra[3][IR_MAX_RANK];
  for (int i = 0; i < nsrc; i++) {
    sv[i] = &p->val[root->args[i]];
    if (sv[i]->kind != CV_BUF) return cu_gen_fail(g, "%s: %s operand not in memory", p->f->name, ir_ops[root->op].mnemonic);
  }
  for (int d = 0; d < r; d++) {
    extra[0][d] = cg_mono_numel(dom, d + 1);
    for (int i = 0; i < nsrc; i++)
      extra[1 + i][d] = sv[i]->v.st[d];
  }
  if (root->op == OP_CAUSAL_MASK) tags[r - 2] = 1, tags[r - 1] = 2;
  else tags[ax] = 1;
  CuSrc *s = &g->src;
  cu_kernel_open(g, p, index, ir_ops[root->op].mnemonic, MISC_BLOCK, 0, l);
  l->work = cg_mono_numel(dom, 0);
  CuEw E;
  cu_ew_init(&E, g, p, k, l, "i", NULL, 0, tags, extra, 1 + nsrc);
  unsigned all = cu_ew_all(&E);
  cu_for_elems(s, "t");
  cu_ew_unflatten(&E, s, "t", all);
  if (!cu_buf_ptr(g, p, l, s, k->exp[0].buf, dt)) return false;
  cu_printf(s, "[");
  cu_ew_offset(&E, s, 0, all);
  cu_printf(s, "] = ");
  if (root->op == OP_CAUSAL_MASK) {
    /* The value above the diagonal of the last two axes (column > row). */
    dim_index(s, &E, r - 1);
    cu_printf(s, " > ");
    dim_index(s, &E, r - 2);
    cu_printf(s, " ? ");
    cu_const(s, root->at.value, dt);
    cu_printf(s, " : ");
    if (!cu_buf_ptr(g, p, l, s, sv[0]->v.buf, dt)) return false;
    cu_printf(s, "[");
    cu_ew_offset(&E, s, 1, all);
    cu_printf(s, "];\n}\n");
    cu_kernel_close(g);
    return true;
  }
  int64_t da = p->f->nodes[root->args[0]].ty.sh.d[ax];
  dim_index(s, &E, ax);
  cu_printf(s, " < %lldLL ? ", (long long)da);
  if (!cu_buf_ptr(g, p, l, s, sv[0]->v.buf, dt)) return false;
  cu_printf(s, "[");
  cu_ew_offset(&E, s, 1, all);
  cu_printf(s, "] : ");
  if (!cu_buf_ptr(g, p, l, s, sv[1]->v.buf, dt)) return false;
  cu_printf(s, "[");
  cu_ew_offset(&E, s, 2, all);
  cu_printf(s, " - ");
  cu_mono(s, cg_mono_mul(sv[1]->v.st[ax], cg_mono(da)));
  cu_printf(s, "];\n}\n");
  cu_kernel_close(g);
  return true;
}
