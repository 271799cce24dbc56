/* meta.c — the nnrt_model constant (runtime/nnrt_abi.h) in LLVM terms.
 *
 * The LLVM struct types below mirror NnrtTensor, NnrtFunc and NnrtModel
 * field by field. LLVM lays out a non-packed struct with the target's ABI
 * alignments, exactly as the C compiler does on the same target, so no
 * padding is spelled out; tests/codegen checks every field offset against
 * offsetof and reads a compiled model back from C. A change to the ABI
 * header must change these lists in the same order. */
#include <string.h>

#include "cg.h"

LLVMTypeRef cg_meta_types(CgCtx *cx, LLVMTypeRef *tensor, LLVMTypeRef *func) {
  LLVMTypeRef p = cx->t_ptr, i32 = cx->t_i32, i64 = cx->t_i64, f64 = cx->t_f64;
  LLVMTypeRef tt = LLVMGetTypeByName2(cx->llc, "nnrt.tensor");
  if (!tt) {
    LLVMTypeRef ft[] = {p, i32, i32, i32, i32, LLVMArrayType2(i64, NNRT_MAX_RANK), f64, f64};
    tt = LLVMStructCreateNamed(cx->llc, "nnrt.tensor");
    LLVMStructSetBody(tt, ft, sizeof ft / sizeof *ft, 0);
  }
  LLVMTypeRef fn = LLVMGetTypeByName2(cx->llc, "nnrt.func");
  if (!fn) {
    LLVMTypeRef ff[] = {p, p, p, i32, i32, p, p, i32, p};
    fn = LLVMStructCreateNamed(cx->llc, "nnrt.func");
    LLVMStructSetBody(fn, ff, sizeof ff / sizeof *ff, 0);
  }
  LLVMTypeRef mt = LLVMGetTypeByName2(cx->llc, "nnrt.model");
  if (!mt) {
    LLVMTypeRef mf[] = {i32, p,   i32, p,   i32, p,   fn, fn, fn, i32, i32, f64, f64, f64,
                        f64, f64, f64, i32, i32, p,   i64, p,  p,  i32, i32, p, p, p};
    mt = LLVMStructCreateNamed(cx->llc, "nnrt.model");
    LLVMStructSetBody(mt, mf, sizeof mf / sizeof *mf, 0);
  }
  if (tensor) *tensor = tt;
  if (func) *func = fn;
  return mt;
}

LLVMTypeRef cg_meta_kernel_types(CgCtx *cx, LLVMTypeRef *term) {
  LLVMTypeRef p = cx->t_ptr, i32 = cx->t_i32;
  LLVMTypeRef tt = LLVMGetTypeByName2(cx->llc, "nnrt.term");
  if (!tt) {
    LLVMTypeRef ft[] = {cx->t_f64, LLVMArrayType2(LLVMInt8TypeInContext(cx->llc), NNRT_MAX_SYMS)};
    tt = LLVMStructCreateNamed(cx->llc, "nnrt.term");
    LLVMStructSetBody(tt, ft, sizeof ft / sizeof *ft, 0);
  }
  LLVMTypeRef kt = LLVMGetTypeByName2(cx->llc, "nnrt.kernel");
  if (!kt) {
    LLVMTypeRef ft[] = {p, p, i32, i32, i32, p, i32, p};
    kt = LLVMStructCreateNamed(cx->llc, "nnrt.kernel");
    LLVMStructSetBody(kt, ft, sizeof ft / sizeof *ft, 0);
  }
  if (term) *term = tt;
  return kt;
}

LLVMTypeRef cg_meta_write_type(CgCtx *cx) {
  LLVMTypeRef p = cx->t_ptr, i32 = cx->t_i32;
  LLVMTypeRef wt = LLVMGetTypeByName2(cx->llc, "nnrt.write");
  if (!wt) {
    LLVMTypeRef ft[] = {p, p, p, i32, i32, i32, i32};
    wt = LLVMStructCreateNamed(cx->llc, "nnrt.write");
    LLVMStructSetBody(wt, ft, sizeof ft / sizeof *ft, 0);
  }
  return wt;
}

LLVMTypeRef cg_meta_cuda_types(LLVMContextRef llc, LLVMTypeRef *kernel, LLVMTypeRef *image) {
  LLVMTypeRef p = LLVMPointerTypeInContext(llc, 0), i32 = LLVMInt32TypeInContext(llc);
  LLVMTypeRef i64 = LLVMInt64TypeInContext(llc);
  LLVMTypeRef kt = LLVMGetTypeByName2(llc, "nnrt.cu_kernel");
  if (!kt) {
    LLVMTypeRef ft[] = {p, i32, i32};
    kt = LLVMStructCreateNamed(llc, "nnrt.cu_kernel");
    LLVMStructSetBody(kt, ft, sizeof ft / sizeof *ft, 0);
  }
  LLVMTypeRef it = LLVMGetTypeByName2(llc, "nnrt.cu_image");
  if (!it) {
    LLVMTypeRef ft[] = {i32, i32, p, i64};
    it = LLVMStructCreateNamed(llc, "nnrt.cu_image");
    LLVMStructSetBody(it, ft, sizeof ft / sizeof *ft, 0);
  }
  LLVMTypeRef ct = LLVMGetTypeByName2(llc, "nnrt.cuda");
  if (!ct) {
    LLVMTypeRef ft[] = {i32, p, i32, p, i32};
    ct = LLVMStructCreateNamed(llc, "nnrt.cuda");
    LLVMStructSetBody(ct, ft, sizeof ft / sizeof *ft, 0);
  }
  if (kernel) *kernel = kt;
  if (image) *image = it;
  return ct;
}

LLVMValueRef cg_const_str(LLVMContextRef llc, LLVMModuleRef mod, const char *s) {
  if (!s) return LLVMConstNull(LLVMPointerTypeInContext(llc, 0));
  LLVMValueRef init = LLVMConstStringInContext2(llc, s, strlen(s), 0);
  LLVMValueRef g = LLVMAddGlobal(mod, LLVMTypeOf(init), ".str");
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

static LLVMValueRef str(CgCtx *cx, const char *s) { return cg_const_str(cx->llc, cx->mod, s); }

/* NnrtModel.cuda: NULL for the CPU; for a device target the global
 * nnrt_cuda, whose initializer the device backend adds (cg.h). */
static LLVMValueRef cuda_table(CgCtx *cx) {
  if (!cx->dev) return LLVMConstNull(cx->t_ptr);
  LLVMValueRef g = LLVMAddGlobal(cx->mod, cg_meta_cuda_types(cx->llc, NULL, NULL), "nnrt_cuda");
  LLVMSetGlobalConstant(g, 1);
  return g;
}

static LLVMValueRef i32c(CgCtx *cx, int64_t v) { return LLVMConstInt(cx->t_i32, (unsigned long long)v, 1); }
static LLVMValueRef f64c(CgCtx *cx, double v) { return LLVMConstReal(cx->t_f64, v); }

/* A private constant array of elements of type t; NULL when empty. */
static LLVMValueRef array(CgCtx *cx, LLVMTypeRef t, LLVMValueRef *elems, int n, const char *name) {
  if (n == 0) return LLVMConstNull(cx->t_ptr);
  LLVMValueRef init = LLVMConstArray2(t, elems, (uint64_t)n);
  LLVMValueRef g = LLVMAddGlobal(cx->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  return g;
}

static LLVMValueRef tensor(CgCtx *cx, LLVMTypeRef tt, const char *name, int kind, const Type *ty, int init, double a,
                           double b) {
  LLVMValueRef dims[NNRT_MAX_RANK];
  for (int i = 0; i < NNRT_MAX_RANK; i++)
    dims[i] = LLVMConstInt(cx->t_i64, (unsigned long long)(i < ty->sh.rank ? ty->sh.d[i] : 0), 1);
  LLVMValueRef f[] = {str(cx, name),         i32c(cx, kind), i32c(cx, ty->dt),
                      i32c(cx, ty->sh.rank), i32c(cx, init), LLVMConstArray2(cx->t_i64, dims, NNRT_MAX_RANK),
                      f64c(cx, a),           f64c(cx, b)};
  return LLVMConstNamedStruct(tt, f, sizeof f / sizeof *f);
}

/* Appends the terms of cost q to terms[*n]. */
static void cost_terms(CgCtx *cx, LLVMTypeRef term_t, const CgPoly *q, LLVMValueRef *terms, int *n) {
  LLVMTypeRef i8 = LLVMInt8TypeInContext(cx->llc);
  for (int i = 0; i < q->n; i++) {
    LLVMValueRef e[NNRT_MAX_SYMS];
    for (int k = 0; k < NNRT_MAX_SYMS; k++)
      e[k] = LLVMConstInt(i8, q->t[i].e[k], 0);
    LLVMValueRef f[] = {f64c(cx, (double)q->t[i].c), LLVMConstArray2(i8, e, NNRT_MAX_SYMS)};
    terms[(*n)++] = LLVMConstNamedStruct(term_t, f, 2);
  }
}

/* The NnrtWrite of export e of kernel k: the exported node, named as the
 * IR prints it, or the global it updates in place. */
static LLVMValueRef write_row(CgCtx *cx, LLVMTypeRef wt, const CgPlan *p, const CgExport *x) {
  const IrNode *nd = &p->f->nodes[x->node];
  const CgBuf *b = &p->bufs[x->buf];
  char id[32];
  snprintf(id, sizeof id, "%%%d", x->node);
  const char *name = b->kind == CB_GLOBAL ? cx->m->globals[b->index].name : nd->name ? nd->name : id;
  LLVMValueRef f[] = {str(cx, name),           str(cx, ir_ops[nd->op].mnemonic),
                      str(cx, nd->loc.line > 0 ? nd->loc.file : NULL),
                      i32c(cx, nd->loc.line),  i32c(cx, nd->loc.col),
                      i32c(cx, nd->ty.dt),     i32c(cx, b->kind == CB_GLOBAL ? b->index : -1)};
  return LLVMConstNamedStruct(wt, f, sizeof f / sizeof *f);
}

/* The kernel table of step s (NnrtKernel[s->nk]), all terms in one array,
 * all writes in another. */
static LLVMValueRef kernel_table(CgCtx *cx, const CgStep *s, const char *fname) {
  LLVMTypeRef term_t, kt = cg_meta_kernel_types(cx, &term_t);
  int nterms = 0;
  for (int i = 0; i < s->nk; i++)
    nterms += s->k[i].bytes.n + s->k[i].flops.n + s->k[i].calls.n;
  LLVMValueRef *terms = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(nterms + 1));
  LLVMValueRef *rows = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(s->nk + 1));
  int *first = arena_alloc(cx->arena, sizeof(int) * (size_t)(s->nk + 1));
  int n = 0;
  for (int i = 0; i < s->nk; i++) {
    first[i] = n;
    cost_terms(cx, term_t, &s->k[i].bytes, terms, &n);
    cost_terms(cx, term_t, &s->k[i].flops, terms, &n);
    cost_terms(cx, term_t, &s->k[i].calls, terms, &n);
  }
  char name[96];
  snprintf(name, sizeof name, "nnrt.%s.terms", fname);
  LLVMValueRef all = array(cx, term_t, terms, n, name);
  LLVMTypeRef wt = cg_meta_write_type(cx);
  int nw = 0;
  for (int i = 0; i < s->nk; i++)
    nw += s->plan->ks[i].nexp;
  LLVMValueRef *writes = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(nw + 1));
  int *wfirst = arena_alloc(cx->arena, sizeof(int) * (size_t)(s->nk + 1));
  nw = 0;
  for (int i = 0; i < s->nk; i++) {
    wfirst[i] = nw;
    for (int e = 0; e < s->plan->ks[i].nexp; e++)
      writes[nw++] = write_row(cx, wt, s->plan, &s->plan->ks[i].exp[e]);
  }
  snprintf(name, sizeof name, "nnrt.%s.writes", fname);
  LLVMValueRef wall = array(cx, wt, writes, nw, name);
  for (int i = 0; i < s->nk; i++) {
    const CgKInfo *k = &s->k[i];
    LLVMValueRef at = cg_i64(cx, first[i]);
    LLVMValueRef t = n ? LLVMConstInBoundsGEP2(term_t, all, &at, 1) : LLVMConstNull(cx->t_ptr);
    LLVMValueRef wat = cg_i64(cx, wfirst[i]);
    int nwi = s->plan->ks[i].nexp;
    LLVMValueRef w = nwi ? LLVMConstInBoundsGEP2(wt, wall, &wat, 1) : LLVMConstNull(cx->t_ptr);
    LLVMValueRef f[] = {str(cx, k->name),     str(cx, k->ops),      i32c(cx, k->bytes.n), i32c(cx, k->flops.n),
                        i32c(cx, k->calls.n), t,                    i32c(cx, nwi),        w};
    rows[i] = LLVMConstNamedStruct(kt, f, sizeof f / sizeof *f);
  }
  snprintf(name, sizeof name, "nnrt.%s.kernels", fname);
  return array(cx, kt, rows, s->nk, name);
}

/* The values an integer input may take, [0, bound), from the ops that read
 * it as row or class numbers (an embedding table's rows, onehot's classes),
 * through layout ops and into scan bodies (a sequence's step t, or a
 * constant, is the body's input of the same position, holding the same
 * values); 0 when none does. It goes into the input's init_b (nnrt_abi.h),
 * and the runtime checks the data against it when it loads them
 * (rt_datacheck.c), before the first step. A carry is not followed: the
 * body computes the next one. */
static double id_bound(const IrModule *m, const IrFunc *f, int v) {
  double bound = 0;
  for (int i = v + 1; i < f->n; i++) {
    const IrNode *n = &f->nodes[i];
    for (int a = 0; a < n->nargs; a++) {
      if (n->args[a] != v) continue;
      double b = 0;
      if (a == 0 && (n->op == OP_EMBEDDING || n->op == OP_EMBEDDING_GRAD))
        b = (double)f->nodes[n->args[1]].ty.sh.d[0];
      else if (a == 0 && n->op == OP_ONEHOT)
        b = (double)n->ty.sh.d[n->ty.sh.rank - 1];
      else if (a == 0 && op_is(n->op, OPF_LAYOUT))
        b = id_bound(m, f, i);
      else if (n->op == OP_SCAN && a >= n->at.ncarry) {
        const IrFunc *body = ir_scan_body(m, &n->at);
        for (int j = 0; body && j < body->n; j++)
          if (body->nodes[j].op == OP_INPUT && body->nodes[j].at.index == a) b = id_bound(m, body, j);
      }
      if (b > 0 && (bound == 0 || b < bound)) bound = b;
    }
  }
  return bound;
}

/* Input and output descriptors and the kernel table of function f; names
 * come from the IR (an unnamed output is "out<r>"). */
static LLVMValueRef func(CgCtx *cx, LLVMTypeRef tt, LLVMTypeRef ft, const IrFunc *f, const CgStep *s) {
  if (!f) return LLVMConstNull(ft);
  int nin = 0;
  for (int i = 0; i < f->n; i++)
    nin += f->nodes[i].op == OP_INPUT;
  LLVMValueRef *ins = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(nin + 1));
  LLVMValueRef *outs = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(f->nrets + 1));
  for (int i = 0; i < f->n; i++) {
    const IrNode *nd = &f->nodes[i];
    if (nd->op == OP_INPUT && nd->at.index < nin)
      ins[nd->at.index] = tensor(cx, tt, nd->name ? nd->name : "input", 0, &nd->ty, 0, 0,
                                 ir_dtype_is_float(nd->ty.dt) ? 0 : id_bound(cx->m, f, i));
  }
  for (int r = 0; r < f->nrets; r++) {
    const IrNode *nd = &f->nodes[f->rets[r]];
    char buf[32];
    snprintf(buf, sizeof buf, "out%d", r);
    outs[r] = tensor(cx, tt, nd->name ? nd->name : buf, 0, &nd->ty, 0, 0, 0);
  }
  char name[96];
  snprintf(name, sizeof name, "nnrt.%s.inputs", f->name);
  LLVMValueRef in_arr = array(cx, tt, ins, nin, name);
  snprintf(name, sizeof name, "nnrt.%s.outputs", f->name);
  LLVMValueRef out_arr = array(cx, tt, outs, f->nrets, name);
  LLVMValueRef v[] = {str(cx, f->name), s->fn,     s->ws, i32c(cx, nin), i32c(cx, f->nrets), in_arr, out_arr,
                      i32c(cx, s->nk),  kernel_table(cx, s, f->name)};
  return LLVMConstNamedStruct(ft, v, sizeof v / sizeof *v);
}

/* NnrtModel.embedded: in an inference binary, one pointer per global to a
 * private constant holding its data (IrGlobal.data, the trained weights of
 * --checkpoint, any dtype), or NULL for a global without data; NULL when no
 * global has data or the binary is a training one. 64-byte aligned, as the
 * runtime's own buffers are. */
static LLVMValueRef embedded(CgCtx *cx) {
  const IrModule *m = cx->m;
  bool any = false;
  for (int i = 0; i < m->nglobals; i++)
    any |= m->globals[i].data != NULL;
  if (!cx->infer || !any) return LLVMConstNull(cx->t_ptr);
  LLVMValueRef *ptrs = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(m->nglobals + 1));
  for (int i = 0; i < m->nglobals; i++) {
    const IrGlobal *g = &m->globals[i];
    ptrs[i] = LLVMConstNull(cx->t_ptr);
    if (!g->data) continue;
    size_t bytes = (size_t)ir_numel_static(&g->ty.sh) * (size_t)ir_dtype_size(g->ty.dt);
    LLVMValueRef init = LLVMConstStringInContext2(cx->llc, g->data, bytes, 1);
    char name[160];
    snprintf(name, sizeof name, "nnrt.data.%s", g->name);
    LLVMValueRef v = LLVMAddGlobal(cx->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(v, init);
    LLVMSetGlobalConstant(v, 1);
    LLVMSetLinkage(v, LLVMPrivateLinkage);
    LLVMSetAlignment(v, 64);
    ptrs[i] = v;
  }
  return array(cx, cx->t_ptr, ptrs, m->nglobals, "nnrt.embedded");
}

void cg_emit_meta(CgCtx *cx, const CgStep steps[3]) {
  const IrModule *m = cx->m;
  LLVMTypeRef tt, ft, mt = cg_meta_types(cx, &tt, &ft);
  LLVMValueRef *syms = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(m->nsyms + 1));
  for (int i = 0; i < m->nsyms; i++)
    syms[i] = str(cx, m->syms[i]);
  LLVMValueRef *gl = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(m->nglobals + 1));
  for (int i = 0; i < m->nglobals; i++) {
    const IrGlobal *g = &m->globals[i];
    gl[i] = tensor(cx, tt, g->name, g->kind, &g->ty, g->init, g->init_a, g->init_b);
  }
  static const char *const names[3] = {IR_FN_FORWARD, IR_FN_EVAL, IR_FN_TRAIN};
  LLVMValueRef fv[3];
  for (int i = 0; i < 3; i++)
    fv[i] = func(cx, tt, ft, steps[i].fn ? ir_func_find(m, names[i]) : NULL, &steps[i]);
  const IrTrain *t = &m->train;
  LLVMValueRef v[] = {i32c(cx, NNRT_ABI_VERSION),
                      str(cx, m->name),
                      i32c(cx, m->nsyms),
                      array(cx, cx->t_ptr, syms, m->nsyms, "nnrt.sym_names"),
                      i32c(cx, m->nglobals),
                      array(cx, tt, gl, m->nglobals, "nnrt.globals"),
                      fv[0],
                      fv[1],
                      fv[2],
                      i32c(cx, t->task),
                      i32c(cx, t->opt),
                      f64c(cx, t->lr),
                      f64c(cx, t->beta1),
                      f64c(cx, t->beta2),
                      f64c(cx, t->eps),
                      f64c(cx, t->weight_decay),
                      f64c(cx, t->momentum),
                      i32c(cx, t->batch),
                      i32c(cx, t->epochs),
                      str(cx, t->data),
                      LLVMConstInt(cx->t_i64, t->seed, 0),
                      str(cx, t->schedule),
                      str(cx, t->early_stop),
                      i32c(cx, cx->infer),
                      i32c(cx, cx->infer ? t->output_loss : NNRT_LOSS_NONE),
                      embedded(cx),
                      str(cx, t->prune),
                      cuda_table(cx)};
  LLVMValueRef g = LLVMAddGlobal(cx->mod, mt, "nnrt_model");
  LLVMSetInitializer(g, LLVMConstNamedStruct(mt, v, sizeof v / sizeof *v));
  LLVMSetGlobalConstant(g, 1);
}
