/* libtailquant (include/tailquant.h): the codec behind a small C API.
 * Host path: the plain-C reference (compress/quant_ref.c), bit-identical to the device codes.
 * Device path: the OpenCL compressor and decoder (compress/compressor.c) over a flat buffer
 * that holds one slot per tensor id seen so far; a new id rebuilds them (residuals kept). */
#include "tailquant.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/compressor.h"
#include "compress/quant_ref.h"
#include "util/version.h"

#define MAX_TENSOR_ID 65535u

static _Thread_local char last_error[2048];

static tailquant_status fail_from(const tq_err *e) {
  snprintf(last_error, sizeof last_error, "%s", e->msg);
  return (tailquant_status)e->code;
}

static tailquant_status fail(tailquant_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static tailquant_status fail(tailquant_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return code;
}

const char *tailquant_last_error(void) { return last_error; }

const char *tailquant_method_name(int i) {
  return i >= 0 && i < TQ_METHOD_COUNT ? tq_method_name((tq_method)i) : NULL;
}

const char *tailquant_version(void) {
  static char v[160];
  if (!v[0]) snprintf(v, sizeof v, "%s (git %s)", TQ_VERSION, tq_git_describe);
  return v;
}

typedef struct slot {
  size_t count;    /* 0: this id not seen yet */
  float *residual; /* host path with error feedback */
} slot;

struct tailquant_codec {
  tq_compress_cfg cfg;
  uint32_t worker;
  bool device;
  char device_name[160];
  slot *slots;
  uint32_t nslots; /* ids 0..nslots-1 have a slot (seen or not) */
  tq_buf msg;
  /* device path */
  tq_cl cl;
  bool cl_open;
  tq_compressor *comp;
  tq_decoder *dec;
  cl_mem grad, out;
  size_t *offsets; /* per slot, in the flat device buffers */
  bool built;      /* comp/dec/buffers cover every slot */
};

static bool parse_u32(const char *v, uint32_t *out) {
  char *end;
  unsigned long x = strtoul(v, &end, 10);
  if (!*v || *end || *v == '-' || x > 0xffffffffUL) return false;
  *out = (uint32_t)x;
  return true;
}

static tailquant_status set_option(tailquant_codec *c, const char *k, const char *v, char *device,
                                   size_t dcap) {
  tq_err e = {0};
  tq_compress_cfg *g = &c->cfg;
  uint32_t u = 0;
  bool num = parse_u32(v, &u);
  if (!strcmp(k, "method")) {
    if (tq_method_from_name(v, &g->method, &e)) return fail_from(&e);
  } else if (!strcmp(k, "tail")) {
    if (tq_tail_model_from_name(v, &g->tail, &e)) return fail_from(&e);
  } else if (!strcmp(k, "alpha_rule")) {
    if (tq_alpha_rule_from_name(v, &g->alpha_rule, &e)) return fail_from(&e);
  } else if (!strcmp(k, "device")) {
    snprintf(device, dcap, "%s", v);
  } else if (!strcmp(k, "bits") || !strcmp(k, "bucket") || !strcmp(k, "min_elems") ||
             !strcmp(k, "refit_every") || !strcmp(k, "seed") || !strcmp(k, "worker") ||
             !strcmp(k, "zero_level") || !strcmp(k, "error_feedback")) {
    if (!num) return fail(TAILQUANT_EINPUT, "option %s=%s: not a non-negative integer", k, v);
    if (!strcmp(k, "bits")) g->bits = u > 64 ? 64 : (int)u;
    else if (!strcmp(k, "bucket")) g->bucket = u;
    else if (!strcmp(k, "min_elems")) g->min_elems = u;
    else if (!strcmp(k, "refit_every")) g->refit_every = u;
    else if (!strcmp(k, "seed")) g->seed = u;
    else if (!strcmp(k, "worker")) c->worker = u;
    else if (u > 1) return fail(TAILQUANT_EINPUT, "option %s=%s: use 0 or 1", k, v);
    else if (!strcmp(k, "zero_level")) g->zero_level = u == 1;
    else g->error_feedback = u == 1;
  } else {
    return fail(TAILQUANT_EINPUT,
                "unknown option '%s' (known: method, bits, bucket, tail, alpha_rule, zero_level, "
                "error_feedback, min_elems, refit_every, seed, worker, device)", k);
  }
  return TAILQUANT_OK;
}

tailquant_status tailquant_codec_create(const char *options, tailquant_codec **out) {
  if (!out) return fail(TAILQUANT_EINPUT, "tailquant_codec_create: out is NULL");
  *out = NULL;
  tailquant_codec *c = calloc(1, sizeof *c);
  if (!c) return fail(TAILQUANT_ENOMEM, "out of memory");
  tq_compress_cfg_default(&c->cfg);
  char device[128] = "host";
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", options ? options : "");
  if (options && strlen(options) >= sizeof buf) {
    free(c);
    return fail(TAILQUANT_EINPUT, "options longer than %zu characters", sizeof buf - 1);
  }
  char *save = NULL;
  tailquant_status s = TAILQUANT_OK;
  for (char *tok = strtok_r(buf, " ,\t\n", &save); tok && s == TAILQUANT_OK;
       tok = strtok_r(NULL, " ,\t\n", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok) {
      s = fail(TAILQUANT_EINPUT, "option '%s': write key=value", tok);
      break;
    }
    *eq = '\0';
    s = set_option(c, tok, eq + 1, device, sizeof device);
  }
  if (s == TAILQUANT_OK && c->cfg.method == TQ_METHOD_NONE) c->cfg.bits = 32;
  tq_err e = {0};
  if (s == TAILQUANT_OK && tq_compress_cfg_check(&c->cfg, &e) != TQ_OK) s = fail_from(&e);
  c->cfg.error_feedback = tq_compress_ef(&c->cfg); /* efsign, topk: implied */
  c->device = strcmp(device, "host") != 0;
  if (s == TAILQUANT_OK && !c->device && c->cfg.refit_every != 1)
    s = fail(TAILQUANT_EINPUT, "option refit_every=%u: the host path designs the levels at every "
             "encode; refit_every needs a device (device=auto)", c->cfg.refit_every);
  if (s == TAILQUANT_OK && c->device) {
    if (tq_cl_open(&c->cl, device, false, &e) != TQ_OK)
      s = fail_from(&e);
    else {
      c->cl_open = true;
      snprintf(c->device_name, sizeof c->device_name, "%s", c->cl.info.name);
    }
  }
  if (!c->device) snprintf(c->device_name, sizeof c->device_name, "host");
  if (s != TAILQUANT_OK) {
    tailquant_codec_free(c);
    return s;
  }
  *out = c;
  return TAILQUANT_OK;
}

static void drop_device_state(tailquant_codec *c) {
  tq_compressor_free(c->comp);
  tq_decoder_free(c->dec);
  c->comp = NULL;
  c->dec = NULL;
  tq_cl_release(&c->grad);
  tq_cl_release(&c->out);
  c->built = false;
}

void tailquant_codec_free(tailquant_codec *c) {
  if (!c) return;
  drop_device_state(c);
  if (c->cl_open) tq_cl_close(&c->cl);
  for (uint32_t i = 0; i < c->nslots; i++) free(c->slots[i].residual);
  free(c->slots);
  free(c->offsets);
  tq_buf_free(&c->msg);
  free(c);
}

const char *tailquant_codec_device(const tailquant_codec *c) { return c ? c->device_name : ""; }

tailquant_status tailquant_codec_reset(tailquant_codec *c) {
  if (!c) return fail(TAILQUANT_EINPUT, "tailquant_codec_reset: codec is NULL");
  drop_device_state(c);
  for (uint32_t i = 0; i < c->nslots; i++) free(c->slots[i].residual);
  free(c->slots);
  free(c->offsets);
  c->slots = NULL;
  c->offsets = NULL;
  c->nslots = 0;
  return TAILQUANT_OK;
}

/* Device path: compressor, decoder and flat buffers over every slot; the residuals of the
 * previous compressor move to the new one. */
static tailquant_status build_device(tailquant_codec *c) {
  tq_err e = {0};
  uint32_t n = c->nslots;
  tq_tensor_desc *t = malloc(n * sizeof *t);
  size_t *off = malloc(n * sizeof *off);
  float **keep = calloc(n, sizeof *keep);
  if (!t || !off || !keep) {
    free(t);
    free(off);
    free(keep);
    return fail(TAILQUANT_ENOMEM, "out of memory");
  }
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    t[i].offset = off[i] = total;
    t[i].count = c->slots[i].count ? c->slots[i].count : 1; /* unseen: a 1-element fp32 slot */
    total += t[i].count;
  }
  tq_status s = TQ_OK;
  if (total > UINT32_MAX) s = tq_fail(&e, TQ_EINPUT, "the tensors add up to %zu elements, more than 2^32-1", total);
  /* residuals the previous compressor held (save_device_residuals copied them to the host) */
  for (uint32_t i = 0; i < n; i++) keep[i] = c->slots[i].residual;
  tq_compressor *comp = NULL;
  tq_decoder *dec = NULL;
  cl_mem grad = NULL, outb = NULL;
  if (s == TQ_OK) s = tq_compressor_create(&c->cl, &c->cfg, c->worker, t, (int)n, &comp, &e);
  if (s == TQ_OK) s = tq_decoder_create(&c->cl, t, (int)n, &dec, &e);
  if (s == TQ_OK) s = tq_cl_alloc(&c->cl, 4 * total, &grad, &e);
  if (s == TQ_OK) s = tq_cl_alloc(&c->cl, 4 * total, &outb, &e);
  for (uint32_t i = 0; i < n && s == TQ_OK; i++)
    if (keep[i]) s = tq_compressor_set_residual(comp, (int)i, keep[i], &e);
  free(t);
  free(keep);
  if (s == TQ_OK)
    for (uint32_t i = 0; i < n; i++) {
      free(c->slots[i].residual); /* on the device now */
      c->slots[i].residual = NULL;
    }
  if (s != TQ_OK) {
    tq_compressor_free(comp);
    tq_decoder_free(dec);
    tq_cl_release(&grad);
    tq_cl_release(&outb);
    free(off);
    return fail_from(&e);
  }
  drop_device_state(c);
  free(c->offsets);
  c->offsets = off;
  c->comp = comp;
  c->dec = dec;
  c->grad = grad;
  c->out = outb;
  c->built = true;
  return TAILQUANT_OK;
}

/* Before the device state is rebuilt, copy every residual it holds to host memory so the new
 * compressor starts from them. */
static tailquant_status save_device_residuals(tailquant_codec *c) {
  if (!c->comp || !c->cfg.error_feedback) return TAILQUANT_OK;
  tq_err e = {0};
  for (uint32_t i = 0; i < c->nslots; i++) {
    slot *sl = &c->slots[i];
    if (!sl->count) continue;
    if (!sl->residual) sl->residual = malloc(sl->count * sizeof(float));
    if (!sl->residual) return fail(TAILQUANT_ENOMEM, "out of memory");
    if (tq_compressor_residual(c->comp, (int)i, sl->residual, &e) != TQ_OK) return fail_from(&e);
  }
  return TAILQUANT_OK;
}

/* The slot of tensor id `id` with n elements: created on first use; a later use with another
 * count is an error. */
static tailquant_status use_slot(tailquant_codec *c, uint32_t id, size_t n) {
  if (id > MAX_TENSOR_ID)
    return fail(TAILQUANT_EINPUT, "tensor id %u: use 0..%u", id, MAX_TENSOR_ID);
  if (n == 0 || n > UINT32_MAX)
    return fail(TAILQUANT_EINPUT, "tensor %u: %zu elements (use 1..2^32-1)", id, n);
  if (id < c->nslots && c->slots[id].count) {
    if (c->slots[id].count != n)
      return fail(TAILQUANT_EINPUT, "tensor %u has %zu elements here but %zu before (one count "
                  "per tensor id; tailquant_codec_reset forgets them)", id, n, c->slots[id].count);
    if (c->device && !c->built) return build_device(c);
    return TAILQUANT_OK;
  }
  if (c->device) {
    tailquant_status ss = save_device_residuals(c);
    if (ss != TAILQUANT_OK) return ss;
  }
  if (id >= c->nslots) {
    uint32_t nn = id + 1;
    slot *ns = realloc(c->slots, nn * sizeof *ns);
    if (!ns) return fail(TAILQUANT_ENOMEM, "out of memory");
    memset(ns + c->nslots, 0, (nn - c->nslots) * sizeof *ns);
    c->slots = ns;
    c->nslots = nn;
  }
  c->slots[id].count = n;
  if (c->cfg.error_feedback && !c->device) {
    c->slots[id].residual = calloc(n, sizeof(float));
    if (!c->slots[id].residual) return fail(TAILQUANT_ENOMEM, "out of memory");
  }
  if (c->device) {
    c->built = false;
    return build_device(c);
  }
  return TAILQUANT_OK;
}

tailquant_status tailquant_encode(tailquant_codec *c, const float *x, size_t n, uint32_t tensor,
                                  uint32_t iteration, const uint8_t **msg, size_t *len) {
  if (!c || !x || !msg || !len) return fail(TAILQUANT_EINPUT, "tailquant_encode: a NULL argument");
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return fail(TAILQUANT_EINPUT, "tensor %u: element %zu is %g", tensor, i, (double)x[i]);
  tailquant_status st = use_slot(c, tensor, n);
  if (st != TAILQUANT_OK) return st;
  tq_err e = {0};
  tq_status s;
  if (!c->device) {
    s = tq_ref_compress(&c->cfg, x, n, c->slots[tensor].residual, c->worker, iteration, tensor,
                        &c->msg, NULL, &e);
  } else {
    s = tq_cl_write(&c->cl, c->grad, 4 * c->offsets[tensor], 4 * n, x, &e);
    if (s == TQ_OK) s = tq_compressor_encode(c->comp, c->grad, iteration, (int)tensor, &c->msg, NULL, &e);
  }
  if (s != TQ_OK) return fail_from(&e);
  *msg = c->msg.data;
  *len = c->msg.len;
  return TAILQUANT_OK;
}

static void fill_header(const tq_wire_msg *m, tailquant_header *h) {
  memset(h, 0, sizeof *h);
  snprintf(h->method, sizeof h->method, "%s", tq_method_name(m->h.method));
  h->bits = m->h.bits;
  h->levels = m->h.nlev;
  h->worker = m->h.worker;
  h->iteration = m->h.iteration;
  h->tensor = m->h.tensor;
  h->count = m->h.count;
  h->bucket = m->h.bucket;
  h->alpha = m->h.alpha;
  h->header_bits = m->size.header_bits;
  h->payload_bits = m->size.payload_bits;
  h->pad_bits = m->size.pad_bits;
}

tailquant_status tailquant_message_info(const uint8_t *msg, size_t len, tailquant_header *h) {
  if (!msg || !h) return fail(TAILQUANT_EINPUT, "tailquant_message_info: a NULL argument");
  uint32_t count = 0;
  if (len >= 28) count = (uint32_t)msg[24] | (uint32_t)msg[25] << 8 | (uint32_t)msg[26] << 16 | (uint32_t)msg[27] << 24;
  tq_err e = {0};
  tq_wire_msg m;
  if (tq_wire_parse(msg, len, UINT32_MAX, count, &m, &e) != TQ_OK) return fail_from(&e);
  fill_header(&m, h);
  return TAILQUANT_OK;
}

tailquant_status tailquant_decode(tailquant_codec *c, const uint8_t *msg, size_t len, float *out,
                                  size_t n, float weight, tailquant_header *h) {
  if (!c || !msg || !out) return fail(TAILQUANT_EINPUT, "tailquant_decode: a NULL argument");
  if (n == 0 || n > UINT32_MAX) return fail(TAILQUANT_EINPUT, "tailquant_decode: %zu elements", n);
  if (!isfinite(weight)) return fail(TAILQUANT_EINPUT, "decode weight %g is not finite", (double)weight);
  tq_err e = {0};
  tq_wire_msg m;
  if (tq_wire_parse(msg, len, UINT32_MAX, (uint32_t)n, &m, &e) != TQ_OK) return fail_from(&e);
  if (h) fill_header(&m, h);
  if (!c->device) {
    tq_ref_decode_accumulate(&m, weight, out);
    return TAILQUANT_OK;
  }
  uint32_t id = m.h.tensor;
  tailquant_status st = use_slot(c, id, n);
  if (st != TAILQUANT_OK) return st;
  size_t off = 4 * c->offsets[id];
  tq_status s = tq_cl_write(&c->cl, c->out, off, 4 * n, out, &e);
  if (s == TQ_OK) s = tq_decoder_accumulate(c->dec, msg, len, (int)id, weight, c->out, NULL, &e);
  if (s == TQ_OK) s = tq_cl_read(&c->cl, c->out, off, 4 * n, out, &e);
  return s == TQ_OK ? TAILQUANT_OK : fail_from(&e);
}
