/* plan.c — from an IR function to kernels, an order, and storage.
 *
 * Kernels: nodes sharing an IrNode.group id >= 0 form one kernel, as the IR
 * gives them: what a group may be is decided once, by ir/groups.c's rule,
 * which the fuse pass builds by and the verifier checks; the plan takes the
 * group's kind, root and domain from it and never splits or drops a group.
 * Every other computing node is a kernel alone. A GEMM group is a matmul
 * (or int8 qmatmul) kernel with more members: its epilogue.
 *
 * Order: ir_group_schedule's topological order of the groups (node order
 * wherever it is legal); kernels whose values are only stored (the
 * optimizer update) move to the end, so that every read of a parameter's
 * old value comes before its update.
 *
 * Storage: a kernel writes each exported value straight into the caller's
 * output buffer when it is a return value, into the global itself when it
 * is stored and nothing reads the old value later (the update in place), and
 * into a workspace slot otherwise. Returns that are views, constants or
 * arguments, and stores that could not be done in place, become copies at
 * the end of the step (returns first, so they see globals before stores). */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

typedef struct Uses {
  int *n; /* per node: users */
  int **u;
  int *nret; /* per node: times returned */
  int *nstore;
} Uses;

static Uses uses_of(Arena *a, const IrFunc *f) {
  Uses U = {arena_alloc(a, sizeof(int) * (size_t)f->n), arena_alloc(a, sizeof(int *) * (size_t)f->n),
            arena_alloc(a, sizeof(int) * (size_t)f->n), arena_alloc(a, sizeof(int) * (size_t)f->n)};
  for (int i = 0; i < f->n; i++)
    for (int j = 0; j < f->nodes[i].nargs; j++)
      U.n[f->nodes[i].args[j]]++;
  for (int i = 0; i < f->n; i++)
    U.u[i] = arena_alloc(a, sizeof(int) * (size_t)(U.n[i] + 1)), U.n[i] = 0;
  for (int i = 0; i < f->n; i++)
    for (int j = 0; j < f->nodes[i].nargs; j++) {
      int a0 = f->nodes[i].args[j];
      U.u[a0][U.n[a0]++] = i;
      if (f->nodes[i].op == OP_STORE) U.nstore[a0]++;
    }
  for (int r = 0; r < f->nrets; r++)
    U.nret[f->rets[r]]++;
  return U;
}

bool cg_is_kernel_op(OpKind op) {
  return op_is(op, OPF_ELEMWISE | OPF_REDUCE | OPF_ROWWISE | OPF_CONTRACT | OPF_WINDOW | OPF_RANGE | OPF_GATHER | OPF_QGEMM) ||
         op == OP_ONEHOT || op == OP_SCAN || op == OP_SCAN_OUT;
}

/* Is member x of the node set `in` read outside it? (dim reads only a shape) */
static bool escapes(const IrFunc *f, const Uses *U, const bool *in, int x) {
  if (U->nret[x] || U->nstore[x]) return true;
  for (int i = 0; i < U->n[x]; i++) {
    int u = U->u[x][i];
    if (!in[u] && f->nodes[u].op != OP_DIM) return true;
  }
  return false;
}

/* Kernel k from the node set mem[0..n) (ascending node ids): the members of
 * fusion group g, which satisfies ir/groups.c's rule, or one node alone (g
 * NULL; a free node there is a copy kernel's one member). */
static void make_kernel(CgPlan *p, const Uses *U, bool *in, const int *mem, int n, const IrGroup *g, CgKernel *k) {
  const IrFunc *f = p->f;
  memset(k, 0, sizeof *k);
  k->hgroup = -1;
  k->root = -1;
  if (g) {
    static const CgKernKind kinds[] = {
        [IR_GK_EW] = CK_EW, [IR_GK_REDUCE] = CK_REDUCE, [IR_GK_ROW] = CK_ROW, [IR_GK_GEMM] = CK_MATMUL};
    k->kind = kinds[g->kind];
    if (g->kind == IR_GK_GEMM && op_is(f->nodes[g->root].op, OPF_QGEMM)) k->kind = CK_QGEMM; /* k_int8.c's */
    k->root = g->root;
    k->axis = g->axis;
    k->domain = g->domain;
  } else if (p->mat[mem[0]] || op_is(f->nodes[mem[0]].op, OPF_ELEMWISE)) {
    k->kind = CK_EW;
    k->domain = f->nodes[mem[0]].ty.sh;
  } else {
    const IrNode *r = &f->nodes[k->root = mem[0]];
    k->kind = op_is(r->op, OPF_REDUCE)    ? CK_REDUCE
              : op_is(r->op, OPF_ROWWISE) ? CK_ROW
              : r->op == OP_MATMUL        ? CK_MATMUL
              : op_is(r->op, OPF_WINDOW)  ? CK_WINDOW
              : r->op == OP_ONEHOT        ? CK_ONEHOT
              : op_is(r->op, OPF_GATHER)  ? CK_GATHER
              : op_is(r->op, OPF_QGEMM)   ? CK_QGEMM
                                          : CK_RANGE;
    k->domain = r->nargs ? f->nodes[r->args[0]].ty.sh : r->ty.sh;
    k->axis = k->kind == CK_ROW ? r->at.axis : -1;
    if (k->kind == CK_ONEHOT || k->kind == CK_RANGE || k->kind == CK_GATHER) k->domain = r->ty.sh;
  }
  for (int i = 0; i < n; i++)
    in[mem[i]] = true;
  k->exp = arena_alloc(p->arena, sizeof(CgExport) * (size_t)n);
  /* A GEMM writes its product to memory even when only its epilogue reads
   * it: the epilogue reads each block back while it is in cache, and the
   * buffer lives across the kernel (memplan.c sees it as an export). */
  for (int i = 0; i < n; i++)
    if (escapes(f, U, in, mem[i]) || (mem[i] == k->root && (k->kind == CK_MATMUL || k->kind == CK_QGEMM)))
      k->exp[k->nexp++] = (CgExport){.node = mem[i], .buf = p->own[mem[i]]};
  for (int i = 0; i < n; i++)
    in[mem[i]] = false;
  k->mem = arena_alloc(p->arena, sizeof(int) * (size_t)n);
  memcpy(k->mem, mem, sizeof(int) * (size_t)n);
  k->nmem = n;
}

/* A scan and the scan_outs reading it: one kernel (k_scan.c), ordered at
 * the scan, since the autodiff pass may add scan_outs much later. */
static void make_scan_kernel(CgPlan *p, const Uses *U, bool *in, int s, CgKernel *k) {
  const IrFunc *f = p->f;
  memset(k, 0, sizeof *k);
  k->hgroup = -1;
  k->kind = CK_SCAN;
  k->root = s;
  k->mem = arena_alloc(p->arena, sizeof(int) * (size_t)(U->n[s] + 1));
  k->exp = arena_alloc(p->arena, sizeof(CgExport) * (size_t)(U->n[s] + 1));
  k->mem[k->nmem++] = s;
  for (int i = 0; i < U->n[s]; i++)
    if (f->nodes[U->u[s][i]].op == OP_SCAN_OUT) k->mem[k->nmem++] = U->u[s][i];
  for (int i = 0; i < k->nmem; i++) in[k->mem[i]] = true;
  for (int i = 1; i < k->nmem; i++)
    if (escapes(f, U, in, k->mem[i])) k->exp[k->nexp++] = (CgExport){.node = k->mem[i], .buf = p->own[k->mem[i]]};
  for (int i = 0; i < k->nmem; i++) in[k->mem[i]] = false;
}

static void add_kernel(CgPlan *p, const CgKernel *k) {
  if (!k->nexp) return; /* nothing reads it: dead code the simplifier left */
  p->ks[p->nks++] = *k;
}

typedef struct GPair {
  int g, n;
} GPair;

static int cmp_pair(const void *a, const void *b) {
  const GPair *x = a, *y = b;
  return x->g != y->g ? (x->g > y->g) - (x->g < y->g) : (x->n > y->n) - (x->n < y->n);
}

static int cmp_kpos(const void *a, const void *b) {
  const CgKernel *x = a, *y = b;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

static void form_kernels(CgPlan *p, const Uses *U) {
  const IrFunc *f = p->f;
  IrGroup *parts = arena_alloc(p->arena, sizeof(IrGroup) * (size_t)(f->n + 1));
  int *part_of = arena_alloc(p->arena, sizeof(int) * (size_t)(f->n + 1));
  int *rank = arena_alloc(p->arena, sizeof(int) * (size_t)(f->n + 1));
  if (ir_groups_check(f, parts, part_of, NULL) < 0 || !ir_group_schedule(f, rank, NULL))
    unreachable("the IR's fusion groups break ir/groups.c's rule (the verifier says where)");
  bool *in = arena_alloc(p->arena, (size_t)f->n);
  GPair *pairs = arena_alloc(p->arena, sizeof(GPair) * (size_t)(f->n + 1));
  int np = 0;
  p->nks = 0;
  p->ks = arena_alloc(p->arena, sizeof(CgKernel) * (size_t)(2 * f->n + 2 * f->nrets + 4));
  CgKernel k;
  for (int n = 0; n < f->n; n++) {
    bool kern = cg_is_kernel_op(f->nodes[n].op);
    if (!kern && !p->mat[n]) continue;
    if (f->nodes[n].op == OP_SCAN_OUT) continue; /* its scan's kernel */
    if (f->nodes[n].op == OP_SCAN) {
      make_scan_kernel(p, U, in, n, &k);
      add_kernel(p, &k);
      continue;
    }
    if (kern && f->nodes[n].group >= 0) {
      pairs[np++] = (GPair){part_of[n], n};
      continue;
    }
    make_kernel(p, U, in, &n, 1, NULL, &k);
    add_kernel(p, &k);
  }
  qsort(pairs, (size_t)np, sizeof *pairs, cmp_pair);
  int *mem = arena_alloc(p->arena, sizeof(int) * (size_t)(np + 1));
  for (int i = 0; i < np;) {
    int j = i, n = 0;
    while (j < np && pairs[j].g == pairs[i].g)
      mem[n++] = pairs[j++].n;
    make_kernel(p, U, in, mem, n, &parts[pairs[i].g], &k);
    k.hgroup = parts[pairs[i].g].group;
    add_kernel(p, &k);
    i = j;
  }
  /* Schedule order: a kernel's key is its unit's rank, then its first
   * member (the parts of one group share a rank and stay side by side). */
  for (int i = 0; i < p->nks; i++)
    p->ks[i].pos = (int64_t)rank[p->ks[i].mem[0]] * (f->n + 1) + p->ks[i].mem[0];
  qsort(p->ks, (size_t)p->nks, sizeof *p->ks, cmp_kpos);
  memset(p->kof, -1, sizeof(int) * (size_t)f->n);
  for (int i = 0; i < p->nks; i++)
    for (int j = 0; j < p->ks[i].nmem; j++)
      p->kof[p->ks[i].mem[j]] = i;
}

/* ---- what a kernel reads ---- */

int cg_kernel_reads(const CgPlan *p, const CgKernel *k, const CgVal **out, int *nodes) {
  const IrFunc *f = p->f;
  int n = 0;
  if (!k->nmem) {
    for (int i = 0; i < k->nexp; i++)
      nodes[n] = k->exp[i].node, out[n++] = &p->val[k->exp[i].node];
    return n;
  }
  for (int i = 0; i < k->nmem; i++) {
    int x = k->mem[i];
    if (p->mat[x]) {
      nodes[n] = x, out[n++] = &p->src[x];
      continue;
    }
    const IrNode *nd = &f->nodes[x];
    for (int j = 0; j < nd->nargs; j++) {
      int a = nd->args[j];
      if (p->kof[a] >= 0 && &p->ks[p->kof[a]] == k) continue;
      nodes[n] = a, out[n++] = &p->val[a];
    }
  }
  return n;
}

int cg_row_passes(const CgPlan *p, const CgKernel *k, const bool *need, int *avail) {
  const IrFunc *f = p->f;
  int last = 0;
  memset(avail, 0, sizeof(int) * (size_t)f->n);
  for (int i = 0; i < k->nmem; i++) { /* ascending: operands first */
    int x = k->mem[i];
    if ((need && !need[x]) || p->mat[x]) continue;
    const IrNode *nd = &f->nodes[x];
    int in = 0;
    for (int j = 0; j < nd->nargs; j++)
      if (avail[nd->args[j]] > in) in = avail[nd->args[j]];
    if (op_is(nd->op, OPF_ELEMWISE)) {
      avail[x] = in;
      continue;
    }
    /* a reduction reduces in pass `in`; a softmax takes its max there and
     * its sum of exps in the next */
    bool soft = op_is(nd->op, OPF_ROWWISE);
    avail[x] = in + (soft ? 2 : 1);
    if (in + (soft ? 1 : 0) > last) last = in + (soft ? 1 : 0);
  }
  for (int e = 0; e < k->nexp; e++)
    if (ir_shape_eq(&f->nodes[k->exp[e].node].ty.sh, &k->domain) && avail[k->exp[e].node] > last)
      last = avail[k->exp[e].node];
  return last;
}

/* The kernel (index) that wrote buffer b, or -1 for arguments. */
static int producer(const CgPlan *p, int b) {
  int o = p->bufs[b].owner;
  return o >= 0 ? p->kof[o] : -1;
}

/* Kernels whose values nothing but stores read go last, in order. */
static void sinks_last(CgPlan *p, const CgVal **rd, int *nodes) {
  bool *read = arena_alloc(p->arena, (size_t)p->nks);
  for (int i = 0; i < p->nks; i++) {
    int n = cg_kernel_reads(p, &p->ks[i], rd, nodes);
    for (int j = 0; j < n; j++)
      if (rd[j]->kind == CV_BUF) {
        int q = producer(p, rd[j]->v.buf);
        if (q >= 0 && q != i) read[q] = true;
      }
  }
  CgKernel *ks = arena_alloc(p->arena, sizeof(CgKernel) * (size_t)(p->nks + 1));
  int m = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < p->nks; i++) {
      bool sink = !read[i];
      if (sink == (pass == 1)) ks[m] = p->ks[i], ks[m++].sink = sink;
    }
  memcpy(p->ks, ks, sizeof(CgKernel) * (size_t)p->nks);
  for (int i = 0; i < p->nks; i++)
    for (int j = 0; j < p->ks[i].nmem; j++)
      p->kof[p->ks[i].mem[j]] = i;
}

/* The latest kernel whose values kernel j reads, or -1. */
static int last_producer(const CgPlan *p, int j, const CgVal **rd, int *nodes) {
  int dep = -1, n = cg_kernel_reads(p, &p->ks[j], rd, nodes);
  for (int r = 0; r < n; r++)
    if (rd[r]->kind == CV_BUF && producer(p, rd[r]->v.buf) > dep) dep = producer(p, rd[r]->v.buf);
  return dep;
}

/* Moves kernel `from` to position `to`, the kernels between shifting by one. */
static void move_kernel(CgPlan *p, int from, int to) {
  CgKernel k = p->ks[from];
  if (to < from) memmove(&p->ks[to + 1], &p->ks[to], sizeof(CgKernel) * (size_t)(from - to));
  else memmove(&p->ks[from], &p->ks[from + 1], sizeof(CgKernel) * (size_t)(to - from));
  p->ks[to] = k;
  for (int i = to < from ? to : from; i <= (to < from ? from : to); i++)
    for (int m = 0; m < p->ks[i].nmem; m++)
      p->kof[p->ks[i].mem[m]] = i;
}

static bool pairable(const CgPlan *p, int i) {
  IrScanRows rows;
  return p->ks[i].kind == CK_SCAN && !p->ks[i].with_prev && !(i + 1 < p->nks && p->ks[i + 1].with_prev) &&
         ir_scan_rows(p->f->mod, &p->f->nodes[p->ks[i].root], &rows);
}

/* Independent scans side by side: the two directions of a bidirectional
 * layer, forward and backward. Scans i < j pair when j reads nothing that
 * i or a kernel between them writes (j moves up beside i: the backward
 * pass's two directions), or else when no kernel between them reads what
 * i writes (i moves down beside j: the forward pass, where each
 * direction's input product comes before its scan). The two are then one
 * step (CgKernel.with_prev): they may run at once, and the memory plan
 * keeps the values of both alive across it. A CPU binary runs such a pair
 * as two tasks, each scan's whole batch on one thread
 * (codegen/cpu/k_scan.c); another backend runs them one after the other.
 * Only scans that run in blocks of batch rows (ir_scan_rows) pair. */
static void pair_scans(CgPlan *p, const CgVal **rd, int *nodes) {
  for (int j = 1; j < p->nks; j++) {
    if (!pairable(p, j)) continue;
    int i = j - 1;
    while (i >= 0 && p->ks[i].kind != CK_SCAN) i--;
    if (i < 0 || !pairable(p, i)) continue;
    bool up = last_producer(p, j, rd, nodes) < i, down = !up;
    for (int m = i + 1; m <= j && down; m++) { /* nothing from i up to j reads i */
      int n = cg_kernel_reads(p, &p->ks[m], rd, nodes);
      for (int r = 0; r < n; r++)
        down &= !(rd[r]->kind == CV_BUF && producer(p, rd[r]->v.buf) == i);
    }
    if (!up && !down) continue;
    if (up) move_kernel(p, j, i + 1);
    else move_kernel(p, i, j - 1);
    p->ks[up ? i + 1 : j].with_prev = true;
  }
}

/* ---- storage ---- */

static int store_global(const IrModule *m, const IrNode *s) { return ir_global_find(m, s->at.name); }

/* Can kernel ki write node x's value straight into global g? Only when g
 * has one store, nothing reads g's old value after ki (nor at the end of
 * the step), and ki's own reads of g are elementwise at the written index. */
static bool in_place_ok(const CgPlan *p, const IrModule *m, int ki, int x, int g, const int *nstores, const CgVal **rd,
                        int *nodes) {
  const IrFunc *f = p->f;
  const CgKernel *k = &p->ks[ki];
  if (nstores[g] != 1) return false;
  for (int r = 0; r < f->nrets; r++) {
    const CgVal *v = &p->val[f->rets[r]];
    if (v->kind == CV_BUF && v->v.buf == g) return false;
  }
  for (int s = 0; s < f->n; s++)
    if (f->nodes[s].op == OP_STORE) {
      const CgVal *v = &p->val[f->nodes[s].args[0]];
      if (v->kind == CV_BUF && v->v.buf == g) return false;
    }
  for (int i = 0; i < p->nks; i++) {
    int n = cg_kernel_reads(p, &p->ks[i], rd, nodes);
    for (int j = 0; j < n; j++) {
      if (rd[j]->kind != CV_BUF || rd[j]->v.buf != g) continue;
      if (i > ki || (i != ki && p->ks[i].step == k->step)) return false; /* later, or at the same time */
      if (i == ki) {
        const Shape *s = &f->nodes[nodes[j]].ty.sh;
        if (k->kind != CK_EW || !ir_shape_eq(s, &k->domain) || !cg_view_rowmajor(&rd[j]->v, s) ||
            !cg_mono_is(rd[j]->v.off, 0))
          return false;
      }
    }
  }
  (void)m, (void)x;
  return true;
}

static void end_copy(CgPlan *p, int node, int buf) {
  CgKernel *k = &p->ks[p->nks++];
  memset(k, 0, sizeof *k);
  k->hgroup = -1;
  k->kind = CK_EW;
  k->root = -1;
  k->end = true;
  k->step = p->nks - 1;
  k->domain = p->f->nodes[node].ty.sh;
  k->exp = arena_alloc(p->arena, sizeof(CgExport));
  k->exp[0] = (CgExport){.node = node, .buf = buf};
  k->nexp = 1;
}

static void place(CgPlan *p, const IrModule *m, const Uses *U, const CgVal **rd, int *nodes) {
  const IrFunc *f = p->f;
  int *nstores = arena_alloc(p->arena, sizeof(int) * (size_t)(m->nglobals + 1));
  bool *ret_done = arena_alloc(p->arena, (size_t)f->nrets + 1);
  bool *store_done = arena_alloc(p->arena, (size_t)f->n);
  for (int s = 0; s < f->n; s++)
    if (f->nodes[s].op == OP_STORE) nstores[store_global(m, &f->nodes[s])]++;
  for (int i = 0; i < p->nks; i++)
    for (int e = 0; e < p->ks[i].nexp; e++)
      p->exported[p->ks[i].exp[e].node] = true;
  for (int i = 0; i < p->nks; i++) {
    for (int e = 0; e < p->ks[i].nexp; e++) {
      int x = p->ks[i].exp[e].node;
      CgBuf *b = &p->bufs[p->own[x]];
      for (int r = 0; r < f->nrets && b->kind == CB_WS; r++)
        if (f->rets[r] == x && !ret_done[r]) ret_done[r] = true, b->kind = CB_OUTPUT, b->index = r;
      for (int j = 0; j < U->n[x] && b->kind == CB_WS; j++) {
        int s = U->u[x][j];
        if (f->nodes[s].op != OP_STORE) continue;
        int g = store_global(m, &f->nodes[s]);
        if (in_place_ok(p, m, i, x, g, nstores, rd, nodes)) store_done[s] = true, b->kind = CB_GLOBAL, b->index = g;
      }
    }
  }
  for (int r = 0; r < f->nrets; r++)
    if (!ret_done[r]) end_copy(p, f->rets[r], p->nglobals + p->ninputs + r);
  for (int s = 0; s < f->n; s++)
    if (f->nodes[s].op == OP_STORE && !store_done[s]) end_copy(p, f->nodes[s].args[0], store_global(m, &f->nodes[s]));
}

/* ---- a batch of products summed over the batch ---- */

/* sum(matmul(A, B, ta=1), axes=[0]) with A [T,K,M] and B [T,K,N]: the
 * gradient of every weight shared over a sequence (vjp_matmul's batch and
 * sum, and scan-hoist's hoisted carry) is sum_t A_t^T B_t, which is one
 * GEMM over T*K rows, since a contiguous A (batched operands are, views.c)
 * is the [T*K, M] matrix of the A_t stacked (B likewise). The IR cannot
 * write that GEMM (a [T*B, K] reshape needs a dim that is a product with
 * the symbolic batch), so the plan does: the matmul's kernel writes the
 * sum's value, the sum's kernel runs nothing, and the [T,M,N] batch of
 * products never exists (at batch 256, 64 MB of char_gpt's peak). One
 * GEMM with K*T deep dot products instead of T products written out and
 * summed: the same FLOPs, T*M*N fewer floats written and read, and longer
 * products for the library. The sum's order changes (the library's over
 * T*K, not T products' then T partial sums): within f32 rounding. Only
 * into workspace: an output or a global written this early could be read
 * between the two kernels. */
static void summed_gemms(CgPlan *p, const Uses *U) {
  const IrFunc *f = p->f;
  for (int i = 0; i < p->nks; i++) p->ks[i].done_in = -1;
  if (p->no_summed_gemm) return;
  for (int i = 0; i < p->nks; i++) {
    CgKernel *k = &p->ks[i];
    if (k->kind != CK_MATMUL || k->nmem != 1 || k->hgroup >= 0 || k->nexp != 1) continue;
    int x = k->root;
    const IrNode *mm = &f->nodes[x];
    if (mm->op != OP_MATMUL || mm->ty.dt != DT_F32 || !mm->at.ta || mm->at.tb || mm->ty.sh.rank != 3 ||
        f->nodes[mm->args[0]].ty.sh.rank != 3 || f->nodes[mm->args[1]].ty.sh.rank != 3 || U->n[x] != 1 ||
        U->nret[x] || U->nstore[x])
      continue;
    int s = U->u[x][0];
    const IrNode *sn = &f->nodes[s];
    if (sn->op != OP_SUM || sn->ty.dt != DT_F32 || sn->at.naxes != 1 || sn->at.axes[0] != 0 || sn->at.keepdims ||
        p->own[s] < 0 || p->bufs[p->own[s]].kind != CB_WS)
      continue;
    int j = p->kof[s];
    CgKernel *ks = &p->ks[j];
    if (j <= i || ks->kind != CK_REDUCE || ks->nmem != 1 || ks->hgroup >= 0 || ks->nexp != 1 || ks->exp[0].node != s)
      continue;
    k->sums_batch = true;
    k->exp[0] = ks->exp[0];
    ks->nexp = 0, ks->done_in = i;
    p->exported[x] = false;
  }
}

CgPlan *cg_plan(Arena *a, const IrModule *m, const IrFunc *f, const CgPlanOptions *o) {
  CgPlan *p = arena_alloc(a, sizeof *p);
  p->no_summed_gemm = o && o->no_summed_gemm;
  size_t n = (size_t)f->n + 1;
  p->f = f;
  p->arena = a;
  p->nglobals = m->nglobals;
  for (int i = 0; i < f->n; i++)
    p->ninputs += f->nodes[i].op == OP_INPUT;
  p->noutputs = f->nrets;
  p->val = arena_alloc(a, sizeof(CgVal) * n);
  p->src = arena_alloc(a, sizeof(CgVal) * n);
  p->kof = arena_alloc(a, sizeof(int) * n);
  p->own = arena_alloc(a, sizeof(int) * n);
  p->mat = arena_alloc(a, n);
  p->exported = arena_alloc(a, n);
  memset(p->own, -1, sizeof(int) * n);
  for (int g = 0; g < m->nglobals; g++)
    cg_buf_new(a, p, CB_GLOBAL, g, -1);
  for (int i = 0; i < p->ninputs; i++)
    cg_buf_new(a, p, CB_INPUT, i, -1);
  for (int r = 0; r < f->nrets; r++)
    cg_buf_new(a, p, CB_OUTPUT, r, -1);
  Uses U = uses_of(a, f);
  do
    cg_views(p, m);
  while (cg_mark_mat(p));
  const CgVal **rd = arena_alloc(a, sizeof(CgVal *) * (size_t)(IR_MAX_ARGS * n + f->nrets + 1));
  int *nodes = arena_alloc(a, sizeof(int) * (size_t)(IR_MAX_ARGS * n + f->nrets + 1));
  form_kernels(p, &U);
  sinks_last(p, rd, nodes);
  pair_scans(p, rd, nodes);
  /* Steps: a run of kernels of one group (its parts) is one dispatch, and
   * so is a pair of scans. */
  for (int i = 0; i < p->nks; i++)
    p->ks[i].step = i > 0 && ((p->ks[i].hgroup >= 0 && p->ks[i].hgroup == p->ks[i - 1].hgroup) || p->ks[i].with_prev)
                        ? p->ks[i - 1].step
                        : i;
  for (int i = 0; i < p->nks; i++)
    p->nfused += p->ks[i].nmem > 1;
  place(p, m, &U, rd, nodes);
  summed_gemms(p, &U);
  cg_memplan(a, p);
  return p;
}
