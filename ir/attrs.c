/* attrs.c — the attribute table (attrs.def) and one helper per kind of
 * value, so that every walker of attributes (the printers, the parser, the
 * verifier, CSE) is one loop over ir_attrs[] and never lists attributes.
 *
 * Fields are found by their offset in IrNode: the table's field column is
 * an IrNode member (at.axis, group), which is what lets a node annotation
 * that lives outside Attrs (the fusion group) be a row like the others. */
#include <stddef.h>
#include <string.h>

#include "ir.h"

const AttrInfo ir_attrs[AK_COUNT] = {
#define ATTR(id, text, value, place, field, max) [AK_##id] = {text, value, place, offsetof(IrNode, field), 0, max},
#define ATTR_LIST(id, text, field, len, max)                                                                           \
  [AK_##id] = {text, AV_INTS, AP_DICT, offsetof(IrNode, field), offsetof(IrNode, len), max},
#include "attrs.def"
};

/* Typed views of attribute k's field in node n. */
static const void *field(const IrNode *n, AttrKind k) { return (const char *)n + ir_attrs[k].off; }
static int int_of(const IrNode *n, AttrKind k) { return *(const int *)field(n, k); }
static const char *str_of(const IrNode *n, AttrKind k) { return *(const char *const *)field(n, k); }
static double real_of(const IrNode *n, AttrKind k) { return *(const double *)field(n, k); }
static const int *ints_of(const IrNode *n, AttrKind k) { return (const int *)field(n, k); }

/* A list's length, clamped: the printers and CSE may meet unverified IR. */
static int len_of(const IrNode *n, AttrKind k) {
  int len = *(const int *)((const char *)n + ir_attrs[k].len_off);
  return len < 0 ? 0 : len > IR_MAX_RANK ? IR_MAX_RANK : len;
}

bool ir_attr_on(const IrNode *n, AttrKind k) {
  if (ir_attrs[k].place == AP_NODE) return int_of(n, k) >= 0;
  return (unsigned)n->op < OP_COUNT && (ir_ops[n->op].attrs & (1u << k));
}

void ir_attr_print(FILE *out, const IrNode *n, AttrKind k, void (*put_name)(FILE *out, const char *s)) {
  switch (ir_attrs[k].value) {
  case AV_INT:
    fprintf(out, "%d", int_of(n, k));
    break;
  case AV_REAL: /* %.9g keeps every f32; an integer const needs all its digits */
    fprintf(out, ir_dtype_valid(n->ty.dt) && !ir_dtype_is_float(n->ty.dt) ? "%.17g" : "%.9g", real_of(n, k));
    break;
  case AV_INTS: {
    const int *v = ints_of(n, k);
    fputc('[', out);
    for (int i = 0, len = len_of(n, k); i < len; i++)
      fprintf(out, "%s%d", i ? "," : "", v[i]);
    fputc(']', out);
    break;
  }
  case AV_FUNC:
  case AV_GLOBAL: {
    const char *s = str_of(n, k) ? str_of(n, k) : "?";
    fputc('@', out);
    if (put_name)
      put_name(out, s);
    else
      fputs(s, out);
    break;
  }
  }
}

static bool same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static bool attr_eq(const IrNode *a, const IrNode *b, AttrKind k) {
  switch (ir_attrs[k].value) {
  case AV_INT:
    return int_of(a, k) == int_of(b, k);
  case AV_REAL: /* bit for bit: 0 and -0 differ (attrs.def) */
    return !memcmp(field(a, k), field(b, k), sizeof(double));
  case AV_INTS:
    return len_of(a, k) == len_of(b, k) && !memcmp(ints_of(a, k), ints_of(b, k), sizeof(int) * (size_t)len_of(a, k));
  case AV_FUNC:
  case AV_GLOBAL:
    return same_str(str_of(a, k), str_of(b, k));
  }
  unreachable("attr_eq: a kind of value without a rule");
}

bool ir_attrs_eq(const IrNode *a, const IrNode *b) {
  unsigned mask = ir_ops[a->op].attrs;
  for (int k = 0; k < AK_COUNT; k++)
    if ((mask & (1u << k)) && !attr_eq(a, b, (AttrKind)k)) return false;
  return true;
}

/* FNV-1a over bytes. */
static uint64_t mix_bytes(uint64_t h, const void *p, size_t len) {
  for (const unsigned char *c = p; len--; c++)
    h = (h ^ *c) * 0x100000001b3ull;
  return h;
}

uint64_t ir_attrs_hash(const IrNode *n) {
  uint64_t h = 0xcbf29ce484222325ull;
  unsigned mask = ir_ops[n->op].attrs;
  for (int k = 0; k < AK_COUNT; k++) {
    if (!(mask & (1u << k))) continue;
    switch (ir_attrs[k].value) {
    case AV_INT:
    case AV_REAL: /* the bytes, so that equal bits hash equal */
      h = mix_bytes(h, field(n, k), ir_attrs[k].value == AV_INT ? sizeof(int) : sizeof(double));
      break;
    case AV_INTS: {
      int len = len_of(n, k);
      h = mix_bytes(mix_bytes(h, &len, sizeof len), ints_of(n, k), sizeof(int) * (size_t)len);
      break;
    }
    case AV_FUNC:
    case AV_GLOBAL:
      if (str_of(n, k)) h = mix_bytes(h, str_of(n, k), strlen(str_of(n, k)) + 1);
      break;
    }
  }
  return h;
}

void ir_attrs_own(Arena *a, IrNode *n) {
  for (int k = 0; k < AK_COUNT; k++) {
    AttrValue v = ir_attrs[k].value;
    if ((v == AV_FUNC || v == AV_GLOBAL) && str_of(n, (AttrKind)k))
      *(const char **)((char *)n + ir_attrs[k].off) = arena_strdup(a, str_of(n, (AttrKind)k));
  }
}
