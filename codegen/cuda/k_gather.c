/* k_gather.c — embedding (rows gathered by id), its gradient (a
 * scatter-add), and dropout (a keep mask drawn inline from Philox) as
 * CUDA C, over contiguous operands (views.c materialises any other view).
 *
 * Every element is computed as codegen/cpu/k_gather.c computes it, so the
 * results are the CPU's to the bit, and none depends on the grid:
 *   embedding       a thread per result element: element (k, c) is table
 *                   row ids[k], column c (consecutive threads, consecutive
 *                   columns: coalesced);
 *   embedding_grad  no atomics: a thread owns one column of a chunk of
 *                   table rows, zeroes it, then walks all the ids in order
 *                   and adds dy's element (k, c) when row ids[k] is its
 *                   own. Each element's sum is taken in the order of k, as
 *                   the CPU and the interpreter do; the price is that every
 *                   chunk reads every id (a warp's threads read the same
 *                   id: one broadcast load), so the chunks are few: about
 *                   GATHER_THREADS threads in all;
 *   dropout         a thread per Philox block of four elements: the mask
 *                   is nnrt_philox.h's function of (seed, step, salt,
 *                   index), its arithmetic written out (the header itself
 *                   needs <stdint.h>, which NVRTC lacks).
 * An id outside [0, rows) reads nothing and writes zeros (the gradient
 * skips it). NOT YET REPORTED: the CPU's kernel also calls nnrt_fail_id;
 * a CUDA kernel has no channel to the host for it yet. */
#include "../../runtime/nnrt_philox.h"
#include "cuda.h"

enum { GATHER_BLOCK = 256, GATHER_THREADS = 16384 };

/* The buffer of an operand in memory, as "((T *)a.b[s])". */
static bool operand(CuGen *g, const CgPlan *p, CuLaunch *l, CuSrc *s, int node) {
  const CgVal *v = &p->val[node];
  if (v->kind != CV_BUF || !cg_mono_is(v->v.off, 0))
    return cu_gen_fail(g, "%s: a gather kernel's operand %%%d is not contiguous in memory", p->f->name, node);
  return cu_buf_ptr(g, p, l, s, v->v.buf, p->f->nodes[node].ty.dt);
}

static bool embedding(CuGen *g, const CgPlan *p, const IrNode *nd, const CgKernel *k, CuLaunch *l) {
  CuSrc *s = &g->src;
  const Shape *ids_s = &p->f->nodes[nd->args[0]].ty.sh, *tab_s = &p->f->nodes[nd->args[1]].ty.sh;
  long long V = tab_s->d[0], D = tab_s->d[1];
  l->work = cg_mono_mul(cg_mono_numel(ids_s, 0), cg_mono(D));
  cu_for_elems(s, "t");
  cu_printf(s, "long long k = t / %lldLL, c = t %% %lldLL;\n", D, D);
  cu_printf(s, "long long id = ");
  if (!operand(g, p, l, s, nd->args[0])) return false;
  cu_printf(s, "[k];\n");
  if (!cu_buf_ptr(g, p, l, s, k->exp[0].buf, DT_F32)) return false;
  cu_printf(s, "[t] = (unsigned long long)id < %lldULL ? ", V);
  if (!operand(g, p, l, s, nd->args[1])) return false;
  cu_printf(s, "[id * %lldLL + c] : 0.f;\n}\n", D);
  return true;
}

/* Work items are (chunk, column) pairs, columns fastest; chunk q owns
 * table rows [q*R, q*R + R). */
static bool embedding_grad(CuGen *g, const CgPlan *p, const IrNode *nd, const CgKernel *k, CuLaunch *l) {
  CuSrc *s = &g->src;
  const Shape *ids_s = &p->f->nodes[nd->args[0]].ty.sh, *tab_s = &p->f->nodes[nd->args[1]].ty.sh;
  long long V = tab_s->d[0], D = tab_s->d[1];
  long long chunks = GATHER_THREADS / D < 1 ? 1 : GATHER_THREADS / D;
  if (chunks > V) chunks = V;
  long long R = (V + chunks - 1) / chunks;
  chunks = (V + R - 1) / R;
  l->work = cg_mono(chunks * D);
  cu_for_elems(s, "t");
  cu_printf(s, "long long c = t %% %lldLL, lo = t / %lldLL * %lldLL;\n", D, D, R);
  cu_printf(s, "long long hi = lo + %lldLL < %lldLL ? lo + %lldLL : %lldLL;\n", R, V, R, V);
  cu_printf(s, "float *out = ");
  if (!cu_buf_ptr(g, p, l, s, k->exp[0].buf, DT_F32)) return false;
  cu_printf(s, ";\nconst int *ids = ");
  if (!operand(g, p, l, s, nd->args[0])) return false;
  cu_printf(s, ";\nconst float *dy = ");
  if (!operand(g, p, l, s, nd->args[2])) return false;
  cu_printf(s, ";\nfor (long long row = lo; row < hi; row++) out[row * %lldLL + c] = 0.f;\n", D);
  cu_printf(s, "for (long long n = ");
  cu_mono(s, cg_mono_numel(ids_s, 0));
  cu_printf(s, ", q = 0; q < n; q++) {\n");
  /* id - lo < hi - lo, unsigned: the id is one of this chunk's rows (an
   * out-of-range id is no chunk's). */
  cu_printf(s, "long long id = ids[q];\n");
  cu_printf(s, "if ((unsigned long long)(id - lo) < (unsigned long long)(hi - lo)) ");
  cu_printf(s, "out[id * %lldLL + c] += dy[q * %lldLL + c];\n}\n}\n", D, D);
  return true;
}

/* k_gather.c's dropout without chunks: Philox block b covers elements
 * [4b, 4b + 4) below n, one thread each. */
static bool dropout(CuGen *g, const CgPlan *p, const IrNode *nd, const CgKernel *k, CuLaunch *l) {
  CuSrc *s = &g->src;
  CgMono n = cg_mono_numel(&nd->ty.sh, 0);
  l->work = n;
  uint32_t thr = nnrt_dropout_threshold(nd->at.value), word3 = nnrt_dropout_word3((uint32_t)nd->at.salt);
  float scale = (float)(1 / (1 - nd->at.value));
  cu_printf(s, "const unsigned *seed = (const unsigned *)");
  if (!operand(g, p, l, s, nd->args[1])) return false;
  /* The step is an integer-valued f32 (opt.step), as the interpreter reads it. */
  cu_printf(s, ";\nunsigned step = (unsigned)(long long)");
  if (!operand(g, p, l, s, nd->args[2])) return false;
  cu_printf(s, "[0];\nconst float *x = ");
  if (!operand(g, p, l, s, nd->args[0])) return false;
  cu_printf(s, ";\nfloat *out = ");
  if (!cu_buf_ptr(g, p, l, s, k->exp[0].buf, DT_F32)) return false;
  /* a.work counts elements (ceil(n / 4), the blocks, is no monomial): the
   * grid strides over the blocks, and threads past the last one idle. */
  cu_printf(s, ";\nlong long n = a.work;\n");
  cu_printf(s, "for (long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x; 4 * b < n; "
               "b += (long long)gridDim.x * blockDim.x) {\n");
  cu_printf(s,
            "unsigned c0 = (unsigned)b, c1 = (unsigned)((unsigned long long)b >> 32), c2 = step, c3 = %uu;\n"
            "unsigned k0 = seed[0], k1 = seed[1];\n"
            "for (int r = 0; r < %d; r++) {\n"
            "if (r > 0) k0 += %uu, k1 += %uu;\n"
            "unsigned long long p0 = (unsigned long long)%uu * c0, p1 = (unsigned long long)%uu * c2;\n"
            "unsigned hi0 = (unsigned)(p0 >> 32), lo0 = (unsigned)p0, hi1 = (unsigned)(p1 >> 32), lo1 = (unsigned)p1;\n"
            "c0 = hi1 ^ c1 ^ k0, c1 = lo1, c2 = hi0 ^ c3 ^ k1, c3 = lo0;\n"
            "}\n"
            "unsigned w[4] = {c0, c1, c2, c3};\n"
            "for (int j = 0; j < 4; j++) {\n"
            "long long i = 4 * b + j;\n"
            "if (i < n) out[i] = w[j] >= %uu ? x[i] * ",
            word3, NNRT_PHILOX_ROUNDS, NNRT_PHILOX_W0, NNRT_PHILOX_W1, NNRT_PHILOX_M0, NNRT_PHILOX_M1, thr);
  cu_const(s, scale, DT_F32);
  cu_printf(s, " : 0.f;\n}\n}\n");
  return true;
}

bool cu_kernel_gather(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l) {
  const IrNode *nd = &p->f->nodes[k->root];
  cu_kernel_open(g, p, index, ir_ops[nd->op].mnemonic, GATHER_BLOCK, 0, l);
  bool ok = nd->op == OP_EMBEDDING        ? embedding(g, p, nd, k, l)
            : nd->op == OP_EMBEDDING_GRAD ? embedding_grad(g, p, nd, k, l)
                                          : dropout(g, p, nd, k, l);
  if (!ok) return false;
  cu_kernel_close(g);
  return true;
}
