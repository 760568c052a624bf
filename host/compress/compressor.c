#include "compress/compressor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl_profile.h"
#include "cl/kernel_constants.h" /* TQ_STATS_E, TQ_HIST_E: elements per stats/hist work-item */
#include "compress/baselines.h"
#include "compress/quant_ref.h"
#include "util/fileio.h"

/* Work-group shapes of kernels/quant_stats.cl and quant_codec.cl (see there). q_stats' group
 * size is fixed: its partial sums, and so sum|g| to the last bit, follow it. The histogram's
 * and the encoder's are not (integer counts; per-element codes) and are sized per device
 * (size_groups). */
#define STATS_L ((unsigned)TQ_STATS_L) /* q_stats local size */

typedef struct tstate {
  bool compressed; /* false: travels as fp32 */
  bool have;       /* a design exists */
  uint32_t fit_iter;
  size_t roff;     /* offset of its residual in resid */
  uint32_t bucket, nb, sub, per, nparts; /* bucketed layout */
  tq_tail_stats stats;
  tq_tail_fit fit;
  tq_design design;
  /* The level table as the kernels read it: padded to the kernel's table size with the last
   * level (also the host memory of the non-blocking write, alive until the call's wait). */
  float lvpad[TQ_MAX_LEVELS + 64]; /* then the count table (kernels/quant_codec.cl) */
  int lvlen;     /* entries written */
  float inv;     /* 1 / grid step when the table is a uniform grid (0: not) */
  /* Device memory of its own, so that every tensor's kernels can be queued before one wait:
   * statistics partials and their reduction, histogram edges, levels, norms and codes. */
  cl_mem pmax, psum, pcnt, phist, levels, scales, sinv, parts, words;
  /* Host copies of the statistics partials (read with the call's first wait, summed here in
   * a fixed order): nsg q_stats groups, nhg histogram groups. */
  uint32_t nsg, nhg;
  float *hmax, *hsum;
  uint32_t *hcnt, *hhist;
  bool refit_now; /* this call refits it */
  tq_wire_hdr hdr; /* of the message this call writes */
  struct sparse_st *sp; /* sparse family (top-k) only */
} tstate;

/* A top-k tensor's selection: the gather's device buffers (candidates, their counter, the
 * selected indices for the residual), their host copies, and this call's choice. */
typedef struct sparse_st {
  uint32_t k;      /* entries sent: tq_sparse_k(n, bits) */
  float thr;       /* this call's gather threshold (tq_topk_threshold) */
  uint64_t ncand;  /* elements above it, from the histogram */
  cl_mem cidx, cval, ccnt, sel;
  uint32_t hcnt;   /* the gather's own count, checked against ncand */
  uint32_t *hidx, *selidx; /* n candidates at most; k selected */
  float *hval, *selval;
} sparse_st;

struct tq_compressor {
  tq_cl cl;
  tq_compress_cfg cfg;
  uint32_t worker;
  int nt;
  tq_tensor_desc *t;
  tstate *st;
  cl_kernel k_stats, k_stats_v16, k_hist, k_hist_exact, k_npart, k_nfin, k_enc, k_ef_add;
  cl_kernel k_npart32, k_enc_u, k_enc_s; /* 32-element norm parts; uniform-grid; small buckets */
  cl_kernel k_ncap;                      /* the capped max-norm (TPQSGD) */
  cl_kernel k_l1part, k_l1fin;           /* mean |x| per bucket (efsign) */
  cl_kernel k_gather, k_zero;            /* top-k: candidates; the residual's zeroing */
  size_t hist_l, hist_lmem; /* histogram work-group size and local memory for this device */
  cl_mem ratios, resid;
  /* Kernel events of the current encode call, kept only when the queue profiles. */
  cl_event *ev;
  const char **ev_name;
  int nev, evcap;
  /* tq_compressor_queue_stats ran for this iteration and gradient: the next encode_all call
   * finds the statistics of its refitting tensors queued already. */
  bool stats_queued;
  uint32_t stats_iter;
  cl_mem stats_grad;
};

/* tq_cl_run1d, keeping the kernel's event when the queue profiles (tq_encode_info.t_device);
 * run() counts the arguments of its array, as tq_cl_run1d does. */
#define run(c, k, global, local, args, what, e)                                                   \
  run_n(c, k, global, local, args, TQ_NARGS(args), what, e)
static tq_status run_n(tq_compressor *c, cl_kernel k, size_t global, size_t local,
                       const tq_karg *args, int nargs, const char *what, tq_err *e) {
  if (!c->cl.profiling || c->nev >= c->evcap)
    return tq_cl_run1d_n(&c->cl, k, global, local, args, nargs, what, e);
  TQ_TRY(tq_cl_run1d_n(&c->cl, k, 0, local, args, nargs, what, e)); /* sets the arguments */
  if (local) TQ_TRY(tq_cl_check_fit(&c->cl, k, local, what, e));
  size_t g = local ? (global + local - 1) / local * local : global;
  cl_int rc = clEnqueueNDRangeKernel(c->cl.queue, k, 1, NULL, &g, local ? &local : NULL, 0, NULL,
                                     &c->ev[c->nev]);
  if (rc != CL_SUCCESS)
    return tq_fail(e, TQ_ECL, "clEnqueueNDRangeKernel(%s, global %zu, local %zu) failed (%d)",
                   what, g, local, rc);
  c->ev_name[c->nev++] = what;
  /* The process-wide per-kernel profile gets its own reference to the event. */
  clRetainEvent(c->ev[c->nev - 1]);
  tq_profile_add(&c->cl, c->ev[c->nev - 1], what);
  return TQ_OK;
}

/* Sums (and releases) the kept events: seconds the device spent in kernels. */
static double take_events(tq_compressor *c) {
  double t = 0;
  const char *verbose = getenv("TAILQUANT_PROFILE_KERNELS");
  for (int i = 0; i < c->nev; i++) {
    cl_ulong t0 = 0, t1 = 0;
    clWaitForEvents(1, &c->ev[i]);
    clGetEventProfilingInfo(c->ev[i], CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
    clGetEventProfilingInfo(c->ev[i], CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
    clReleaseEvent(c->ev[i]);
    t += (double)(t1 - t0) * 1e-9;
    if (verbose && *verbose == '1') fprintf(stderr, "  %-16s %8.3f ms\n", c->ev_name[i], (double)(t1 - t0) * 1e-6);
  }
  c->nev = 0;
  return t;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/* Encode work-group size (one work-item per 32 elements): 256 work-items for large tensors, 64
 * for small ones so that a group is not mostly padding (both lowered to what the device allows
 * for this kernel). */
static size_t enc_local(const tq_compressor *c, cl_kernel k, size_t n) {
  return tq_cl_group1d(&c->cl, k, n >= 8192u * 4u ? 256 : 64);
}

/* Local memory a kernel already uses before its __local arguments are set. */
static cl_ulong static_local(const tq_cl *cl, cl_kernel k) {
  cl_ulong b = 0;
  clGetKernelWorkGroupInfo(k, cl->info.device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof b, &b, NULL);
  return b;
}

/* Work-group sizes from what the device and each kernel report, checked before any tensor is
 * encoded, so that a device that cannot run a kernel says so when the compressor is made
 * (before training) rather than at the first launch. The histogram's kind comes from the
 * device profile, unless local memory decides: lane-private counts need 112 x 448 bytes (49
 * KiB) at the least, more than NVIDIA (48 KiB) or the OpenCL minimum (32 KiB) offer, so such a
 * device counts with local atomics whatever its profile. */
static tq_status size_groups(tq_compressor *c, const char **hist_kernel, tq_err *e) {
  const tq_cl *cl = &c->cl;
  const cl_ulong lmem = cl->info.local_mem;
  const char *dev = cl->info.name;
  if (tq_cl_group_cap(cl, c->k_stats) < STATS_L || static_local(cl, c->k_stats) + 16u * STATS_L > lmem)
    return tq_fail(e, TQ_ECL,
                   "%s cannot run q_stats with %u work-items per group and %u bytes of local "
                   "memory (it allows %zu items, %llu bytes): the statistics pass needs both; "
                   "use another device (device.spec, workers.devices)",
                   dev, STATS_L, 16u * STATS_L, tq_cl_group_cap(cl, c->k_stats),
                   (unsigned long long)lmem);
  const tq_devprofile *p = cl->profile;
  size_t want = p ? p->hist_group : 128;
  cl_ulong base = 4u * (TQ_HIST_BINS + 1); /* the edges and M */
  bool atomic = p && p->hist == TQ_HIST_LOCAL_ATOMICS;
  if (!atomic) {
    size_t fit = lmem > base ? (size_t)((lmem - base) / (4u * TQ_HIST_BINS)) : 0;
    if (fit < want) want = fit / 16 * 16 >= TQ_HIST_BINS ? fit / 16 * 16 : fit;
    if (want < TQ_HIST_BINS) {
      atomic = true; /* too little local memory for lane-private counts */
      want = p ? p->hist_group : 128;
    }
  }
  *hist_kernel = atomic ? "q_hist_atomic" : "q_hist";
  c->hist_l = want;
  c->hist_lmem = atomic ? 4u * TQ_HIST_BINS : 4u * TQ_HIST_BINS * want;
  return TQ_OK;
}

/* After the histogram kernels exist: their own limits on this device. */
static tq_status check_hist(tq_compressor *c, tq_err *e) {
  const tq_cl *cl = &c->cl;
  size_t cap = tq_cl_group_cap(cl, c->k_hist);
  if (cap < c->hist_l) c->hist_l = cap;
  if (c->hist_l < TQ_HIST_BINS)
    return tq_fail(e, TQ_ECL,
                   "%s runs the histogram kernel with at most %zu work-items per group; it needs "
                   "%d (one per bin)", cl->info.name, cap, TQ_HIST_BINS);
  if (static_local(cl, c->k_hist) + c->hist_lmem + 4u * (TQ_HIST_BINS + 1) > cl->info.local_mem)
    return tq_fail(e, TQ_ECL, "%s has %llu bytes of local memory, too few for the histogram "
                   "kernel (%zu bytes)", cl->info.name, (unsigned long long)cl->info.local_mem,
                   c->hist_lmem + 4u * (TQ_HIST_BINS + 1));
  return TQ_OK;
}

static void free_sparse(sparse_st *sp) {
  if (!sp) return;
  tq_cl_release(&sp->cidx);
  tq_cl_release(&sp->cval);
  tq_cl_release(&sp->ccnt);
  tq_cl_release(&sp->sel);
  free(sp->hidx);
  free(sp->hval);
  free(sp->selidx);
  free(sp->selval);
  free(sp);
}

void tq_compressor_free(tq_compressor *c) {
  if (!c) return;
  take_events(c);
  if (c->k_hist_exact) clReleaseKernel(c->k_hist_exact);
  cl_kernel ks[] = {c->k_stats,  c->k_hist,    c->k_npart, c->k_nfin,  c->k_enc,
                    c->k_ef_add, c->k_npart32, c->k_enc_u, c->k_enc_s, c->k_ncap,
                    c->k_l1part, c->k_l1fin, c->k_gather, c->k_zero, c->k_stats_v16};
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
    if (ks[i]) clReleaseKernel(ks[i]);
  tq_cl_release(&c->ratios);
  tq_cl_release(&c->resid);
  for (int i = 0; c->st && i < c->nt; i++) {
    tstate *t = &c->st[i];
    cl_mem *ms[] = {&t->pmax,   &t->psum,   &t->pcnt,  &t->phist, &t->levels,
                    &t->scales, &t->sinv,   &t->parts, &t->words};
    for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) tq_cl_release(ms[k]);
    free(t->hmax);
    free(t->hsum);
    free(t->hcnt);
    free(t->hhist);
    free_sparse(t->sp);
  }
  free(c->ev);
  free(c->ev_name);
  free(c->t);
  free(c->st);
  free(c);
}

const tq_compress_cfg *tq_compressor_config(const tq_compressor *c) { return &c->cfg; }

/* Copies and checks the tensor table; marks which tensors are compressed, lays out their
 * buckets (families that send scales) and residuals; *resid: residual floats in all. */
static tq_status layout_tensors(tq_compressor *c, const tq_tensor_desc *tensors, size_t *resid,
                                tq_err *e) {
  const tq_compress_cfg *cfg = &c->cfg;
  const bool scales = tq_method_family_info(cfg->method)->wire_scales;
  *resid = 0;
  for (int i = 0; i < c->nt; i++) {
    c->t[i] = tensors[i];
    size_t n = tensors[i].count;
    if (n == 0 || n > UINT32_MAX || tensors[i].offset > UINT32_MAX - n)
      return tq_fail(e, TQ_EINPUT, "tensor %d: offset %zu count %zu outside 1..2^32-1 elements", i,
                     tensors[i].offset, n);
    tstate *t = &c->st[i];
    t->compressed = cfg->method != TQ_METHOD_NONE && n >= cfg->min_elems;
    if (!t->compressed) continue;
    if (scales) {
      t->bucket = tq_bucket_size(cfg, n);
      t->nb = (uint32_t)((n + t->bucket - 1) / t->bucket);
      t->sub = tq_norm_sub(t->bucket);
      t->per = (t->bucket + t->sub - 1) / t->sub;
      t->nparts = t->nb * t->per;
    }
    t->roff = *resid;
    if (cfg->error_feedback) *resid += n;
  }
  return TQ_OK;
}

/* The family's encode kernels for cfg->bits (one per width: compile-time trip counts; cfg->bits
 * is 1..8 whenever a tensor is compressed, tq_compress_cfg_check): the plain one, the
 * uniform-grid one where the count lookup does not reach, the small-bucket one. */
static tq_status create_encode_kernels(tq_compressor *c, tq_err *e) {
  const tq_family_info *f = tq_method_family_info(c->cfg.method);
  if (!f->encode_kernel) return TQ_OK; /* nothing is encoded */
  if (f->wire_sparse) { /* one gather, and the residual's zeroing (kernels/quant_codec.cl) */
    TQ_TRY(tq_cl_kernel(&c->cl, f->encode_kernel, &c->k_gather, e));
    return tq_cl_kernel(&c->cl, "q_topk_zero", &c->k_zero, e);
  }
  if (tq_method_info_of(c->cfg.method)->norm == TQ_NORM_L1MEAN) {
    TQ_TRY(tq_cl_kernel(&c->cl, "q_norm_l1part", &c->k_l1part, e));
    TQ_TRY(tq_cl_kernel(&c->cl, "q_norm_l1fin", &c->k_l1fin, e));
  }
  char name[48];
  const int eb = c->cfg.bits >= 1 && c->cfg.bits <= 8 ? c->cfg.bits : 8;
  const char *efp = c->cfg.error_feedback ? "e" : ""; /* kernels/quant_codec.cl: names */
  snprintf(name, sizeof name, "%s_%sb%d", f->encode_kernel, efp, eb);
  TQ_TRY(tq_cl_kernel(&c->cl, name, &c->k_enc, e));
  if (eb >= f->uniform_kernel_bits) {
    snprintf(name, sizeof name, "%s_%sub%d", f->encode_kernel, efp, eb);
    TQ_TRY(tq_cl_kernel(&c->cl, name, &c->k_enc_u, e));
  }
  if (f->small_bucket_kernel) {
    snprintf(name, sizeof name, "%s_%ssb%d", f->encode_kernel, efp, eb);
    TQ_TRY(tq_cl_kernel(&c->cl, name, &c->k_enc_s, e));
  }
  return TQ_OK;
}

/* Every kernel the compressor launches, sized and checked for this device. */
static tq_status create_kernels(tq_compressor *c, tq_err *e) {
  const char *kn[] = {"q_stats",  "q_norm_part",   "q_norm_fin",
                      "q_ef_add", "q_norm_part32", "q_norm_cap"};
  cl_kernel *kp[] = {&c->k_stats,  &c->k_npart,   &c->k_nfin,
                     &c->k_ef_add, &c->k_npart32, &c->k_ncap};
  for (size_t i = 0; i < sizeof kn / sizeof kn[0]; i++)
    TQ_TRY(tq_cl_kernel(&c->cl, kn[i], kp[i], e));
  if (c->cl.profile && c->cl.profile->vector_stats)
    TQ_TRY(tq_cl_kernel(&c->cl, "q_stats_v16", &c->k_stats_v16, e));
  TQ_TRY(create_encode_kernels(c, e));
  const char *hk = NULL;
  char hk_exact[32];
  TQ_TRY(size_groups(c, &hk, e));
  TQ_TRY(tq_cl_kernel(&c->cl, hk, &c->k_hist, e));
  snprintf(hk_exact, sizeof hk_exact, "%s_exact", hk);
  TQ_TRY(tq_cl_kernel(&c->cl, hk_exact, &c->k_hist_exact, e));
  return check_hist(c, e);
}

/* A top-k tensor's candidate buffers: as many as elements (every element can be a candidate:
 * ties, zeros), on the device and the host. */
static tq_status alloc_sparse(tq_compressor *c, int i, tq_err *e) {
  const size_t n = c->t[i].count;
  sparse_st *sp = c->st[i].sp = calloc(1, sizeof *sp);
  if (!sp) return tq_fail(e, TQ_ENOMEM, "out of memory");
  sp->k = tq_sparse_k(n, c->cfg.bits);
  const size_t kk = sp->k ? sp->k : 1;
  TQ_TRY(tq_cl_alloc(&c->cl, 4 * n, &sp->cidx, e));
  TQ_TRY(tq_cl_alloc(&c->cl, 4 * n, &sp->cval, e));
  TQ_TRY(tq_cl_alloc(&c->cl, 4, &sp->ccnt, e));
  TQ_TRY(tq_cl_alloc(&c->cl, 4 * kk, &sp->sel, e));
  sp->hidx = malloc(4 * n);
  sp->hval = malloc(4 * n);
  sp->selidx = malloc(4 * kk);
  sp->selval = malloc(4 * kk);
  if (!sp->hidx || !sp->hval || !sp->selidx || !sp->selval)
    return tq_fail(e, TQ_ENOMEM, "out of memory for the top-k candidates of tensor %d", i);
  return TQ_OK;
}

/* A compressed tensor's own device memory (a few percent of the tensor): statistics partials
 * and their host copies where the family fits a tail, levels, norms, codes. */
static tq_status alloc_tensor(tq_compressor *c, int i, tq_err *e) {
  tstate *t = &c->st[i];
  const size_t n = c->t[i].count;
  const size_t sg = ceil_div(n, STATS_L * TQ_STATS_E), hg = ceil_div(n, c->hist_l * TQ_HIST_E);
  const bool fits = tq_method_measures(c->cfg.method);
  struct {
    cl_mem *m;
    size_t bytes;
  } al[] = {{&t->pmax, fits ? 4 * sg : 4},
            {&t->psum, fits ? 4 * sg : 4},
            {&t->pcnt, fits ? 8 * sg : 8},
            {&t->phist, fits ? 4 * hg * TQ_HIST_BINS : 4},
            {&t->levels, 4 * (TQ_MAX_LEVELS + 64)},
            {&t->scales, 4 * max_sz(t->nb, 1)},
            {&t->sinv, 4 * (t->nb + 1)}, /* entry nb stays 0 (encode kernel) */
            {&t->parts, 4 * max_sz(t->nparts, 1)},
            {&t->words, 4 * tq_packed_words(n, c->cfg.bits)}};
  for (size_t k = 0; k < sizeof al / sizeof al[0]; k++)
    TQ_TRY(tq_cl_alloc(&c->cl, al[k].bytes, al[k].m, e));
  TQ_TRY(tq_cl_fill_zero(&c->cl, t->sinv, 0, 4 * ((size_t)t->nb + 1), e));
  if (tq_method_family_info(c->cfg.method)->wire_sparse) TQ_TRY(alloc_sparse(c, i, e));
  if (!fits) return TQ_OK;
  t->nsg = (uint32_t)sg;
  t->nhg = (uint32_t)hg;
  t->hmax = malloc(4 * sg);
  t->hsum = malloc(4 * sg);
  t->hcnt = malloc(8 * sg);
  t->hhist = malloc(4 * hg * TQ_HIST_BINS);
  if (!t->hmax || !t->hsum || !t->hcnt || !t->hhist) return tq_fail(e, TQ_ENOMEM, "out of memory");
  return TQ_OK;
}

/* Kernels, event lists, every tensor's memory, the ratio table and the residuals. */
static tq_status build_compressor(tq_compressor *c, const tq_tensor_desc *tensors, tq_err *e) {
  size_t resid = 0;
  TQ_TRY(layout_tensors(c, tensors, &resid, e));
  TQ_TRY(create_kernels(c, e));
  c->evcap = 8 * c->nt + 8;
  c->ev = malloc(sizeof *c->ev * (size_t)c->evcap);
  c->ev_name = malloc(sizeof *c->ev_name * (size_t)c->evcap);
  if (!c->ev || !c->ev_name) return tq_fail(e, TQ_ENOMEM, "out of memory");
  for (int i = 0; i < c->nt; i++)
    if (c->st[i].compressed) TQ_TRY(alloc_tensor(c, i, e));
  TQ_TRY(tq_cl_alloc(&c->cl, 4 * (TQ_HIST_BINS + 1), &c->ratios, e));
  TQ_TRY(tq_cl_alloc(&c->cl, 4 * max_sz(resid, 1), &c->resid, e));
  TQ_TRY(tq_cl_write(&c->cl, c->ratios, 0, 4 * (TQ_HIST_BINS + 1), tq_hist_ratios(), e));
  return tq_compressor_reset(c, e);
}

tq_status tq_compressor_create(const tq_cl *cl, const tq_compress_cfg *cfg, uint32_t worker,
                               const tq_tensor_desc *tensors, int ntensors, tq_compressor **out,
                               tq_err *e) {
  *out = NULL;
  TQ_TRY(tq_compress_cfg_check(cfg, e));
  if (ntensors < 1) return tq_fail(e, TQ_EINPUT, "compressor needs at least one tensor");
  tq_compressor *c = calloc(1, sizeof *c);
  if (!c) return tq_fail(e, TQ_ENOMEM, "out of memory creating a compressor");
  c->cl = *cl;
  c->cfg = *cfg;
  c->cfg.error_feedback = tq_compress_ef(cfg); /* efsign, topk: implied */
  c->worker = worker;
  c->nt = ntensors;
  c->t = malloc(sizeof *c->t * (size_t)ntensors);
  c->st = calloc((size_t)ntensors, sizeof *c->st);
  tq_status s = (c->t && c->st) ? TQ_OK : tq_fail(e, TQ_ENOMEM, "out of memory");
  if (s == TQ_OK) s = build_compressor(c, tensors, e);
  if (s != TQ_OK) {
    tq_compressor_free(c);
    return tq_wrap(e, "creating the %s compressor", tq_method_name(cfg->method));
  }
  *out = c;
  return TQ_OK;
}

tq_status tq_compressor_reset(tq_compressor *c, tq_err *e) {
  for (int i = 0; i < c->nt; i++) c->st[i].have = false;
  size_t bytes = 0;
  TQ_TRY(TQ_CL(clGetMemObjectInfo(c->resid, CL_MEM_SIZE, sizeof bytes, &bytes, NULL), e));
  TQ_TRY(tq_cl_fill_zero(&c->cl, c->resid, 0, bytes, e));
  return TQ_CL(clFinish(c->cl.queue), e);
}

tq_status tq_compressor_residual(tq_compressor *c, int tensor, float *dst, tq_err *e) {
  if (tensor < 0 || tensor >= c->nt)
    return tq_fail(e, TQ_EINPUT, "tensor %d out of range (0..%d)", tensor, c->nt - 1);
  size_t n = c->t[tensor].count;
  if (!c->cfg.error_feedback || !c->st[tensor].compressed) {
    memset(dst, 0, 4 * n);
    return TQ_OK;
  }
  return tq_cl_read(&c->cl, c->resid, 4 * c->st[tensor].roff, 4 * n, dst, e);
}

tq_status tq_compressor_set_residual(tq_compressor *c, int tensor, const float *src, tq_err *e) {
  if (tensor < 0 || tensor >= c->nt)
    return tq_fail(e, TQ_EINPUT, "tensor %d out of range (0..%d)", tensor, c->nt - 1);
  size_t n = c->t[tensor].count;
  if (!c->cfg.error_feedback || !c->st[tensor].compressed) {
    for (size_t i = 0; i < n; i++)
      if (src[i] != 0.0f)
        return tq_fail(e, TQ_EINPUT,
                       "tensor %d keeps no error-feedback residual, but element %zu of the given "
                       "one is %g", tensor, i, (double)src[i]);
    return TQ_OK;
  }
  for (size_t i = 0; i < n; i++)
    if (!isfinite(src[i]))
      return tq_fail(e, TQ_EINPUT, "residual of tensor %d: element %zu is not finite", tensor, i);
  return tq_cl_write(&c->cl, c->resid, 4 * c->st[tensor].roff, 4 * n, src, e);
}

/* Queues a tensor's statistics passes (q_stats, then the histogram, which finds M and the
 * edges itself) and the non-blocking reads of their per-group partials (the caller waits once
 * for every tensor, then parse_stats sums them). */
static tq_status queue_stats(tq_compressor *c, tstate *ts, cl_mem x, cl_uint xoff, cl_uint n,
                             bool hist, bool exact, tq_err *e) {
  cl_uint nsg = (cl_uint)ceil_div(n, STATS_L * TQ_STATS_E), nhg = (cl_uint)ceil_div(n, c->hist_l * TQ_HIST_E);
  tq_karg a1[] = {TQ_ARG(x),        TQ_ARG(xoff),     TQ_ARG(n),
                  TQ_ARG(ts->pmax), TQ_ARG(ts->psum), TQ_ARG(ts->pcnt),
                  TQ_LOCAL(4 * STATS_L), TQ_LOCAL(4 * STATS_L), TQ_LOCAL(8 * STATS_L)};
  if (c->k_stats_v16) {
    tq_karg av[] = {TQ_ARG(x), TQ_ARG(xoff), TQ_ARG(n), TQ_ARG(nsg), TQ_ARG(ts->pmax),
                    TQ_ARG(ts->psum), TQ_ARG(ts->pcnt)};
    /* Groups of 8 chunks (64 Ki elements): POCL pays per group. */
    size_t lv = tq_cl_group_cap(&c->cl, c->k_stats_v16) >= 8 ? 8 : 1;
    TQ_TRY(run(c, c->k_stats_v16, nsg, lv, av, "q_stats", e));
  } else {
    TQ_TRY(run(c, c->k_stats, (size_t)nsg * STATS_L, STATS_L, a1, "q_stats", e));
  }
  cl_command_queue q = c->cl.queue;
  if (hist) {
    tq_karg a3[] = {TQ_ARG(x),          TQ_ARG(xoff),      TQ_ARG(n),
                    TQ_ARG(ts->pmax),   TQ_ARG(nsg),       TQ_ARG(c->ratios),
                    TQ_ARG(ts->phist),  TQ_ARG(nhg),
                    TQ_LOCAL(c->hist_lmem), TQ_LOCAL(4 * (TQ_HIST_BINS + 1))};
    TQ_TRY(run(c, exact ? c->k_hist_exact : c->k_hist, (size_t)nhg * c->hist_l, c->hist_l, a3, exact ? "q_hist_exact" : "q_hist", e));
    TQ_TRY(TQ_CL(clEnqueueReadBuffer(q, ts->phist, CL_FALSE, 0, 4u * TQ_HIST_BINS * (size_t)nhg,
                                     ts->hhist, 0, NULL, NULL), e));
  }
  TQ_TRY(TQ_CL(clEnqueueReadBuffer(q, ts->pmax, CL_FALSE, 0, 4u * (size_t)nsg, ts->hmax, 0, NULL,
                                   NULL), e));
  TQ_TRY(TQ_CL(clEnqueueReadBuffer(q, ts->psum, CL_FALSE, 0, 4u * (size_t)nsg, ts->hsum, 0, NULL,
                                   NULL), e));
  return TQ_CL(clEnqueueReadBuffer(q, ts->pcnt, CL_FALSE, 0, 8u * (size_t)nsg, ts->hcnt, 0, NULL,
                                   NULL), e);
}

/* The partials summed in a fixed order (max, a float sum group after group, integer counts):
 * deterministic, and what the q_stats_reduce kernel computed before. */
static void parse_stats(const tstate *ts, cl_uint n, bool hist, tq_tail_stats *st) {
  memset(st, 0, sizeof *st);
  st->n = n;
  float m = 0.0f, s1 = 0.0f;
  uint64_t nz = 0, nf = 0;
  for (uint32_t w = 0; w < ts->nsg; w++) {
    m = ts->hmax[w] > m ? ts->hmax[w] : m;
    s1 = s1 + ts->hsum[w];
    nz += ts->hcnt[2 * w];
    nf += ts->hcnt[2 * w + 1];
  }
  for (int j = 0; hist && j < TQ_HIST_BINS; j++) {
    uint64_t cnt = 0;
    for (uint32_t w = 0; w < ts->nhg; w++) cnt += ts->hhist[(size_t)j * ts->nhg + w];
    st->hist[j] = cnt;
  }
  st->max_abs = m;
  st->sum_abs = s1;
  st->nonzero = nz;
  st->nonfinite = nf;
}

/* The table as the encode kernel reads it (padded to TQ_MAX_LEVELS with the last level, then
 * the count table of the small-table lookup), and whether it is a uniform grid whose arithmetic guess (t - l_0) * inv is within a
 * quarter of every level's index: then the guess lands within one of the right interval,
 * which the kernel settles with one comparison each way (kernels/quant_codec.cl). */
static void prepare_levels(tstate *ts) {
  const tq_design *d = &ts->design;
  if (d->nlev < 1) return; /* top-k: no table */
  for (int k = 0; k < TQ_MAX_LEVELS; k++) ts->lvpad[k] = d->levels[k < d->nlev ? k : d->nlev - 1];
  /* The count table of the small-table lookup: l_j while j <= nlev - 2, +inf after, at even
   * places; l_{j+1} at even places 32 further. */
  for (int j = 0; j < 16; j++) {
    ts->lvpad[TQ_MAX_LEVELS + 2 * j] = (j == 0 || j <= d->nlev - 2) ? d->levels[j] : INFINITY;
    ts->lvpad[TQ_MAX_LEVELS + 2 * j + 1] = 0.0f;
    ts->lvpad[TQ_MAX_LEVELS + 32 + 2 * j] = d->levels[j + 1 < d->nlev ? j + 1 : d->nlev - 1];
    ts->lvpad[TQ_MAX_LEVELS + 32 + 2 * j + 1] = 0.0f;
  }
  ts->lvlen = TQ_MAX_LEVELS + 64;
  const float lo = d->levels[0], hi = d->levels[d->nlev - 1];
  float inv = (float)(d->nlev - 1) / (hi - lo);
  bool uniform = isfinite(inv) && inv > 0;
  for (int k = 0; uniform && k < d->nlev; k++) {
    float q = (d->levels[k] - lo) * inv;
    uniform = fabsf(q - (float)k) <= 0.25f;
  }
  ts->inv = uniform ? inv : 0.0f;
}

/* Phase 1 of an encode call: error feedback (r = g + r) and the statistics passes of every
 * tensor of ids[0..k) that refits (marked refit_now). */
static tq_status queue_phase1(tq_compressor *c, cl_mem grad, uint32_t iteration, const int *ids,
                              int k, int *nrefit_out, tq_err *e) {
  const tq_compress_cfg *cfg = &c->cfg;
  const bool fits = tq_method_measures(cfg->method);
  const bool hist = tq_method_needs_hist(cfg->method, cfg->tail);
  const cl_int ef = cfg->error_feedback ? 1 : 0;
  int nrefit = 0;
  for (int j = 0; j < k; j++) {
    tstate *ts = &c->st[ids[j]];
    ts->refit_now = false;
    if (!ts->compressed) continue;
    const cl_uint n = (cl_uint)c->t[ids[j]].count, goff = (cl_uint)c->t[ids[j]].offset;
    cl_mem x = ef ? c->resid : grad;
    cl_uint xoff = ef ? (cl_uint)ts->roff : goff;
    if (ef) {
      cl_uint roff = (cl_uint)ts->roff;
      tq_karg a[] = {TQ_ARG(grad), TQ_ARG(goff), TQ_ARG(c->resid), TQ_ARG(roff), TQ_ARG(n)};
      TQ_TRY(run(c, c->k_ef_add, n, tq_cl_group1d(&c->cl, c->k_ef_add, 256), a, "q_ef_add", e));
    }
    if (fits && (ts->sp || !ts->have || iteration < ts->fit_iter ||
                  iteration - ts->fit_iter >= cfg->refit_every)) { /* top-k: every call */
      ts->refit_now = true;
      nrefit++;
      TQ_TRY(queue_stats(c, ts, x, xoff, n, hist, false, e));
    }
  }
  *nrefit_out = nrefit;
  return TQ_OK;
}

/* The tensors of an encode call exist and lie inside the gradient; their infos are cleared. */
static tq_status check_ids(const tq_compressor *c, cl_mem grad, const int *ids, int k,
                           tq_encode_info *infos, tq_err *e) {
  size_t gbytes = 0;
  TQ_TRY(TQ_CL(clGetMemObjectInfo(grad, CL_MEM_SIZE, sizeof gbytes, &gbytes, NULL), e));
  for (int j = 0; j < k; j++) {
    int tensor = ids[j];
    if (tensor < 0 || tensor >= c->nt)
      return tq_fail(e, TQ_EINPUT, "tensor %d out of range (0..%d)", tensor, c->nt - 1);
    const size_t n = c->t[tensor].count, goff = c->t[tensor].offset;
    if (4 * (goff + n) > gbytes)
      return tq_fail(e, TQ_EINPUT, "tensor %d (elements %zu..%zu) lies outside the %zu-byte gradient",
                     tensor, goff, goff + n, gbytes);
    memset(&infos[j], 0, sizeof infos[j]);
  }
  return TQ_OK;
}

/* A tensor whose statistics were read: sum them, fit the tail, design its levels. */
static tq_status refit_tensor(tq_compressor *c, cl_mem grad, uint32_t iteration, int tensor,
                              tq_err *e) {
  const tq_compress_cfg *cfg = &c->cfg;
  tstate *ts = &c->st[tensor];
  const cl_uint n = (cl_uint)c->t[tensor].count;
  const bool hist = tq_method_needs_hist(cfg->method, cfg->tail), ef = cfg->error_feedback;
  parse_stats(ts, n, hist, &ts->stats);
  /* q_hist's fast bin guess needs e_0 = M * 10^-7 to be a normal float; for a tensor of tiny
   * values (max|g| <= 1e-30) the histogram is redone with the exact search (a wait of its own:
   * such tensors are rare). */
  if (hist && ts->stats.max_abs > 0 && ts->stats.max_abs <= 1e-30 && !ts->stats.nonfinite) {
    cl_mem x = ef ? c->resid : grad;
    cl_uint xoff = ef ? (cl_uint)ts->roff : (cl_uint)c->t[tensor].offset;
    TQ_TRY(queue_stats(c, ts, x, xoff, n, hist, true, e));
    TQ_TRY(TQ_CL(clFinish(c->cl.queue), e));
    parse_stats(ts, n, hist, &ts->stats);
  }
  if (ts->stats.nonfinite) {
    ts->have = false;
    take_events(c);
    return tq_fail(e, TQ_EINPUT, "tensor %d holds %llu non-finite gradient values", tensor,
                   (unsigned long long)ts->stats.nonfinite);
  }
  memset(&ts->fit, 0, sizeof ts->fit);
  if (hist) tq_tail_fit_hist(&ts->stats, NULL, &ts->fit);
  else ts->fit.beta = ts->stats.n ? ts->stats.sum_abs / (double)ts->stats.n : 0.0;
  TQ_TRY(tq_design_tensor(cfg, &ts->stats, &ts->fit, n, &ts->design, e));
  ts->have = true;
  ts->fit_iter = iteration;
  prepare_levels(ts);
  return TQ_OK;
}

/* Top-k, after the statistics: queues the gather of the elements above the histogram's
 * threshold and the reads of exactly the count the histogram announces. */
static tq_status queue_gather(tq_compressor *c, tstate *ts, int tensor, tq_err *e) {
  sparse_st *sp = ts->sp;
  const cl_uint n = (cl_uint)c->t[tensor].count;
  tq_topk_threshold(&ts->stats, sp->k, &sp->thr, &sp->ncand);
  if (sp->ncand > n)
    return tq_fail(e, TQ_EINTERNAL, "top-k threshold of tensor %d admits %llu of %u elements",
                   tensor, (unsigned long long)sp->ncand, n);
  /* top-k always runs with error feedback (tq_compress_ef): it selects from g + r */
  if (!c->cfg.error_feedback)
    return tq_fail(e, TQ_EINTERNAL, "top-k runs with error feedback only");
  cl_mem x = c->resid;
  cl_uint xoff = (cl_uint)ts->roff, cap = n;
  TQ_TRY(tq_cl_fill_zero(&c->cl, sp->ccnt, 0, 4, e));
  tq_karg a[] = {TQ_ARG(x),        TQ_ARG(xoff), TQ_ARG(n),        TQ_ARG(sp->thr),
                 TQ_ARG(sp->ccnt), TQ_ARG(cap),  TQ_ARG(sp->cidx), TQ_ARG(sp->cval)};
  TQ_TRY(run(c, c->k_gather, n, tq_cl_group1d(&c->cl, c->k_gather, 256), a, "q_topk_gather", e));
  cl_command_queue q = c->cl.queue;
  TQ_TRY(TQ_CL(clEnqueueReadBuffer(q, sp->ccnt, CL_FALSE, 0, 4, &sp->hcnt, 0, NULL, NULL), e));
  if (!sp->ncand) return TQ_OK;
  TQ_TRY(TQ_CL(clEnqueueReadBuffer(q, sp->cidx, CL_FALSE, 0, 4 * sp->ncand, sp->hidx, 0, NULL,
                                   NULL), e));
  return TQ_CL(clEnqueueReadBuffer(q, sp->cval, CL_FALSE, 0, 4 * sp->ncand, sp->hval, 0, NULL,
                                   NULL), e);
}

/* Phase 2b (top-k): every tensor's gather queued, one wait, then each selection on the host
 * (sorted: deterministic whatever order the gather found the candidates in). */
static tq_status select_set(tq_compressor *c, const int *ids, int k, tq_err *e) {
  int queued = 0;
  for (int j = 0; j < k; j++) {
    tstate *ts = &c->st[ids[j]];
    if (!ts->compressed || !ts->sp || !ts->sp->k) continue;
    TQ_TRY(queue_gather(c, ts, ids[j], e));
    queued++;
  }
  if (!queued) return TQ_OK;
  TQ_TRY(TQ_CL(clFinish(c->cl.queue), e));
  for (int j = 0; j < k; j++) {
    tstate *ts = &c->st[ids[j]];
    sparse_st *sp = ts->sp;
    if (!ts->compressed || !sp || !sp->k) continue;
    if (sp->hcnt != sp->ncand)
      return tq_fail(e, TQ_EINTERNAL, "top-k gather of tensor %d found %u candidates, the "
                     "histogram %llu", ids[j], sp->hcnt, (unsigned long long)sp->ncand);
    TQ_TRY(tq_topk_pick(sp->hidx, sp->hval, sp->ncand, sp->k, sp->selidx, sp->selval, e));
  }
  return TQ_OK;
}

/* Phase 2: every design on the host (refitting tensors from their statistics; a tensor of a
 * family without a fit gets its design once). */
static tq_status design_set(tq_compressor *c, cl_mem grad, uint32_t iteration, const int *ids,
                            int k, tq_encode_info *infos, tq_err *e) {
  for (int j = 0; j < k; j++) {
    tstate *ts = &c->st[ids[j]];
    if (!ts->compressed) continue;
    if (ts->refit_now) {
      TQ_TRY(refit_tensor(c, grad, iteration, ids[j], e));
      infos[j].refit = true;
    } else if (!ts->have) {
      TQ_TRY(tq_design_levels(&c->cfg, NULL, c->t[ids[j]].count, &ts->design, e));
      ts->have = true;
      prepare_levels(ts);
    }
  }
  return select_set(c, ids, k, e);
}

/* What every encode kernel of a tensor reads and writes. */
typedef struct enc_args {
  cl_mem x;
  cl_uint xoff, n;
  cl_int nlev;
  cl_float inv;
  cl_uint seed, worker, iter, tid, nwords;
  cl_int ef;
} enc_args;

static tq_status queue_encode_table(tq_compressor *c, tstate *ts, enc_args *a, tq_err *e) {
  cl_kernel kk = a->inv > 0 && c->k_enc_u ? c->k_enc_u : c->k_enc;
  const size_t el = enc_local(c, kk, a->n), eglobal = ceil_div(ceil_div(a->n, 32u), el) * el;
  tq_karg k[] = {TQ_ARG(a->x),    TQ_ARG(a->xoff),   TQ_ARG(a->n),      TQ_ARG(ts->levels),
                 TQ_ARG(a->nlev), TQ_ARG(a->inv),    TQ_ARG(a->seed),   TQ_ARG(a->worker),
                 TQ_ARG(a->iter), TQ_ARG(a->tid),    TQ_ARG(ts->words), TQ_ARG(a->nwords),
                 TQ_ARG(a->ef)};
  return run(c, kk, eglobal, el, k, "q_encode_table", e);
}

/* efsign's scales: the sums of |x| per part, then mean |x| per bucket and its reciprocal. */
static tq_status queue_means(tq_compressor *c, tstate *ts, enc_args *a, tq_err *e) {
  cl_uint bucket = ts->bucket, sub = ts->sub, per = ts->per, np = ts->nparts, nb = ts->nb;
  tq_karg a1[] = {TQ_ARG(a->x), TQ_ARG(a->xoff), TQ_ARG(a->n), TQ_ARG(bucket),
                  TQ_ARG(sub),  TQ_ARG(per),     TQ_ARG(np),   TQ_ARG(ts->parts)};
  TQ_TRY(run(c, c->k_l1part, np, tq_cl_group1d(&c->cl, c->k_l1part, 64), a1, "q_norm_l1part", e));
  tq_karg a2[] = {TQ_ARG(ts->parts), TQ_ARG(per), TQ_ARG(nb), TQ_ARG(bucket), TQ_ARG(a->n),
                  TQ_ARG(ts->scales), TQ_ARG(ts->sinv)};
  return run(c, c->k_l1fin, nb, tq_cl_group1d(&c->cl, c->k_l1fin, 64), a2, "q_norm_l1fin", e);
}

/* The bucket norms (32-element parts when the bucket allows, then per bucket; efsign: the
 * means), the encode, and the read of the scales into the message. */
static tq_status queue_encode_bucket(tq_compressor *c, tstate *ts, enc_args *a, float *scales,
                                     tq_err *e) {
  cl_uint bucket = ts->bucket, sub = ts->sub, per = ts->per, np = ts->nparts, nb = ts->nb;
  cl_int maxnorm = tq_method_maxnorm(c->cfg.method) ? 1 : 0;
  if (c->k_l1part) {
    TQ_TRY(queue_means(c, ts, a, e));
  } else if (sub == 32 && bucket % 32u == 0) {
    tq_karg a1[] = {TQ_ARG(a->x), TQ_ARG(a->xoff), TQ_ARG(a->n), TQ_ARG(np), TQ_ARG(maxnorm),
                    TQ_ARG(ts->parts)};
    TQ_TRY(run(c, c->k_npart32, np, tq_cl_group1d(&c->cl, c->k_npart32, 256), a1, "q_norm_part32", e));
  } else {
    tq_karg a1[] = {TQ_ARG(a->x), TQ_ARG(a->xoff), TQ_ARG(a->n),       TQ_ARG(bucket),
                    TQ_ARG(sub),  TQ_ARG(per),     TQ_ARG(np),         TQ_ARG(maxnorm),
                    TQ_ARG(ts->parts)};
    TQ_TRY(run(c, c->k_npart, np, tq_cl_group1d(&c->cl, c->k_npart, 64), a1, "q_norm_part", e));
  }
  tq_karg a2[] = {TQ_ARG(ts->parts),  TQ_ARG(per),     TQ_ARG(nb), TQ_ARG(maxnorm),
                  TQ_ARG(ts->scales), TQ_ARG(ts->sinv)};
  if (!c->k_l1part)
    TQ_TRY(run(c, c->k_nfin, nb, tq_cl_group1d(&c->cl, c->k_nfin, 64), a2, "q_norm_fin", e));
  if (tq_method_info_of(c->cfg.method)->norm == TQ_NORM_MAX_CAPPED) {
    cl_float alpha = (cl_float)ts->design.alpha; /* +inf: no cap */
    tq_karg a4[] = {TQ_ARG(ts->scales), TQ_ARG(ts->sinv), TQ_ARG(nb), TQ_ARG(alpha)};
    TQ_TRY(run(c, c->k_ncap, nb, tq_cl_group1d(&c->cl, c->k_ncap, 64), a4, "q_norm_cap", e));
  }
  cl_kernel kk = bucket < 32u ? c->k_enc_s : (a->inv > 0 && c->k_enc_u ? c->k_enc_u : c->k_enc);
  const size_t el = enc_local(c, kk, a->n), eglobal = ceil_div(ceil_div(a->n, 32u), el) * el;
  tq_karg a3[] = {TQ_ARG(a->x),      TQ_ARG(a->xoff),   TQ_ARG(a->n),      TQ_ARG(ts->levels),
                  TQ_ARG(a->nlev),   TQ_ARG(a->inv),    TQ_ARG(bucket),    TQ_ARG(ts->scales),
                  TQ_ARG(ts->sinv),  TQ_ARG(a->seed),   TQ_ARG(a->worker), TQ_ARG(a->iter),
                  TQ_ARG(a->tid),    TQ_ARG(ts->words), TQ_ARG(a->nwords), TQ_ARG(a->ef)};
  TQ_TRY(run(c, kk, eglobal, el, a3, "q_encode_bucket", e));
  return TQ_CL(clEnqueueReadBuffer(c->cl.queue, ts->scales, CL_FALSE, 0, 4u * (size_t)nb, scales,
                                   0, NULL, NULL), e);
}

/* Top-k's message: the selection (made on the host) as the payload; the residual x with the
 * sent elements zeroed on the device (selidx outlives the call's wait). */
static tq_status queue_sparse(tq_compressor *c, tstate *ts, tq_wire_parts *parts, tq_err *e) {
  sparse_st *sp = ts->sp;
  if (!sp->k) return TQ_OK;
  memcpy(parts->payload, sp->selidx, 4u * (size_t)sp->k);
  memcpy((uint8_t *)parts->payload + 4u * (size_t)sp->k, sp->selval, 4u * (size_t)sp->k);
  if (!c->cfg.error_feedback) return TQ_OK;
  TQ_TRY(TQ_CL(clEnqueueWriteBuffer(c->cl.queue, sp->sel, CL_FALSE, 0, 4u * (size_t)sp->k,
                                    sp->selidx, 0, NULL, NULL), e));
  cl_uint roff = (cl_uint)ts->roff, k = sp->k;
  tq_karg a[] = {TQ_ARG(c->resid), TQ_ARG(roff), TQ_ARG(sp->sel), TQ_ARG(k)};
  return run(c, c->k_zero, k, tq_cl_group1d(&c->cl, c->k_zero, 64), a, "q_topk_zero", e);
}

/* Phase 3 for one tensor: its message's header, the upload of its levels, its encode kernels
 * (the family's, chosen here) and the read of its payload, all queued. */
static tq_status queue_message(tq_compressor *c, cl_mem grad, uint32_t iteration, int tensor,
                               tq_buf *msg, tq_err *e) {
  const tq_compress_cfg *cfg = &c->cfg;
  tstate *ts = &c->st[tensor];
  const cl_uint n = (cl_uint)c->t[tensor].count, goff = (cl_uint)c->t[tensor].offset;
  const cl_int ef = cfg->error_feedback ? 1 : 0;
  tq_wire_hdr h = {0};
  h.worker = c->worker;
  h.iteration = iteration;
  h.tensor = (uint32_t)tensor;
  h.count = n;
  tq_wire_parts parts;
  if (!ts->compressed) {
    h.method = TQ_METHOD_NONE;
    h.bits = 32;
    ts->hdr = h;
    TQ_TRY(tq_wire_begin(msg, &h, &parts, e));
    return TQ_CL(clEnqueueReadBuffer(c->cl.queue, grad, CL_FALSE, 4 * (size_t)goff,
                                     4 * (size_t)n, parts.payload, 0, NULL, NULL), e);
  }
  const tq_design *d = &ts->design;
  h.method = cfg->method;
  h.bits = cfg->bits;
  tq_wire_hdr_design(&h, cfg, d, ts->bucket, ef);
  ts->hdr = h;
  TQ_TRY(tq_wire_begin(msg, &h, &parts, e));
  if (ts->sp) return queue_sparse(c, ts, &parts, e);
  memcpy(parts.levels, d->levels, 4u * (size_t)d->nlev);
  /* Non-blocking: ts->lvpad outlives the wait at the end of this call. */
  TQ_TRY(TQ_CL(clEnqueueWriteBuffer(c->cl.queue, ts->levels, CL_FALSE, 0, 4u * (size_t)ts->lvlen,
                                    ts->lvpad, 0, NULL, NULL), e));
  enc_args a = {.x = ef ? c->resid : grad,
                .xoff = ef ? (cl_uint)ts->roff : goff,
                .n = n,
                .nlev = d->nlev,
                .inv = ts->inv,
                .seed = cfg->seed,
                .worker = c->worker,
                .iter = iteration,
                .tid = (cl_uint)tensor,
                .nwords = (cl_uint)tq_packed_words(n, cfg->bits),
                .ef = ef};
  switch (tq_method_family(cfg->method)) {
  case TQ_FAMILY_TRUNCATED: TQ_TRY(queue_encode_table(c, ts, &a, e)); break;
  case TQ_FAMILY_BUCKETED: TQ_TRY(queue_encode_bucket(c, ts, &a, parts.scales, e)); break;
  default: return tq_fail(e, TQ_EINTERNAL, "method %s has no encoder", tq_method_name(cfg->method));
  }
  return TQ_CL(clEnqueueReadBuffer(c->cl.queue, ts->words, CL_FALSE, 0, 4u * (size_t)a.nwords,
                                   parts.payload, 0, NULL, NULL), e);
}

/* Phase 4 after the wait: seal every message (CRC) and fill its figures. */
static void finish_set(tq_compressor *c, const int *ids, int k, tq_buf *msgs,
                       tq_encode_info *infos, const double t[3], double tdev) {
  for (int j = 0; j < k; j++) {
    tstate *ts = &c->st[ids[j]];
    tq_wire_seal(&msgs[j]);
    tq_encode_info *info = &infos[j];
    info->size = tq_wire_size(&ts->hdr);
    info->t_stats = t[1] - t[0];
    info->t_design = t[2] - t[1];
    info->t_encode = tq_now_seconds() - t[2];
    info->t_device = tdev;
    if (!ts->compressed) {
      info->method = TQ_METHOD_NONE;
      info->bits = 32;
      continue;
    }
    info->method = c->cfg.method;
    info->bits = c->cfg.bits;
    info->stats = ts->stats;
    info->fit = ts->fit;
    info->design = ts->design;
  }
}

/* Encodes the k tensors ids[0..k) into msgs[0..k): every tensor's statistics are queued, read
 * with one wait, every design made on the host, every encode queued and every payload read
 * with a second wait (the only two synchronisations of the call; one when nothing refits). */
static tq_status encode_set(tq_compressor *c, cl_mem grad, uint32_t iteration, const int *ids,
                            int k, tq_buf *msgs, tq_encode_info *infos, tq_err *e) {
  if (c->nev && !c->stats_queued) take_events(c); /* left by a call that failed part-way */
  TQ_TRY(check_ids(c, grad, ids, k, infos, e));
  double t[3];
  t[0] = tq_now_seconds();
  /* 1. error feedback and the statistics of every tensor that refits (unless
   * tq_compressor_queue_stats queued them for this very call) */
  int nrefit = 0;
  bool pre = c->stats_queued && c->stats_iter == iteration && c->stats_grad == grad && k == c->nt;
  c->stats_queued = false;
  if (pre) {
    for (int j = 0; j < k; j++) nrefit += c->st[ids[j]].refit_now;
  } else {
    TQ_TRY(queue_phase1(c, grad, iteration, ids, k, &nrefit, e));
  }
  /* 2. one wait, then every fit and design on the host */
  if (nrefit) TQ_TRY(TQ_CL(clFinish(c->cl.queue), e));
  t[1] = tq_now_seconds();
  TQ_TRY(design_set(c, grad, iteration, ids, k, infos, e));
  t[2] = tq_now_seconds();
  /* 3. every message's header, every encode and every payload read, queued */
  for (int j = 0; j < k; j++) TQ_TRY(queue_message(c, grad, iteration, ids[j], &msgs[j], e));
  /* 4. one wait for every payload; seal (CRC) */
  TQ_TRY(TQ_CL(clFinish(c->cl.queue), e));
  finish_set(c, ids, k, msgs, infos, t, take_events(c));
  return TQ_OK;
}

tq_status tq_compressor_encode(tq_compressor *c, cl_mem grad, uint32_t iteration, int tensor,
                               tq_buf *msg, tq_encode_info *info, tq_err *e) {
  tq_encode_info local;
  return encode_set(c, grad, iteration, &tensor, 1, msg, info ? info : &local, e);
}

tq_status tq_compressor_queue_stats(tq_compressor *c, cl_mem grad, uint32_t iteration,
                                    tq_err *e) {
  c->stats_queued = false;
  if (c->cfg.error_feedback) return TQ_OK; /* r = g + r must wait for the caller's checks */
  if (c->nev) take_events(c);
  size_t gbytes = 0;
  TQ_TRY(TQ_CL(clGetMemObjectInfo(grad, CL_MEM_SIZE, sizeof gbytes, &gbytes, NULL), e));
  int *ids = malloc(sizeof *ids * (size_t)c->nt);
  if (!ids) return tq_fail(e, TQ_ENOMEM, "out of memory");
  tq_status s = TQ_OK;
  for (int i = 0; s == TQ_OK && i < c->nt; i++) {
    ids[i] = i;
    if (4 * (c->t[i].offset + c->t[i].count) > gbytes)
      s = tq_fail(e, TQ_EINPUT, "tensor %d lies outside the %zu-byte gradient", i, gbytes);
  }
  int nrefit = 0;
  if (s == TQ_OK) s = queue_phase1(c, grad, iteration, ids, c->nt, &nrefit, e);
  free(ids);
  if (s != TQ_OK) return s;
  c->stats_queued = true;
  c->stats_iter = iteration;
  c->stats_grad = grad;
  return TQ_OK;
}

tq_status tq_compressor_encode_all(tq_compressor *c, cl_mem grad, uint32_t iteration,
                                   tq_buf *msgs, tq_encode_info *infos, tq_err *e) {
  int *ids = malloc(sizeof *ids * (size_t)c->nt);
  tq_encode_info *loc = infos ? NULL : malloc(sizeof *loc * (size_t)c->nt);
  if (!ids || (!infos && !loc)) {
    free(ids);
    free(loc);
    return tq_fail(e, TQ_ENOMEM, "out of memory");
  }
  for (int i = 0; i < c->nt; i++) ids[i] = i;
  tq_status s = encode_set(c, grad, iteration, ids, c->nt, msgs, infos ? infos : loc, e);
  free(ids);
  free(loc);
  return s;
}

/* ---- decoder ---------------------------------------------------------------------- */

struct tq_decoder {
  tq_cl cl;
  int nt;
  tq_tensor_desc *t;
  /* decode kernels per family and width (index bits - 1), and by a power-of-two bucket for the
   * families that send scales; fp32 */
  cl_kernel k_dec[TQ_FAMILY_COUNT][8], k_dec_p[TQ_FAMILY_COUNT][8], k_f32;
  cl_mem words, levels, scales;
  size_t words_cap, scales_cap;
};

void tq_decoder_free(tq_decoder *d) {
  if (!d) return;
  for (int f = 0; f < TQ_FAMILY_COUNT; f++)
    for (int b = 0; b < 8; b++) {
      if (d->k_dec[f][b]) clReleaseKernel(d->k_dec[f][b]);
      if (d->k_dec_p[f][b]) clReleaseKernel(d->k_dec_p[f][b]);
    }
  if (d->k_f32) clReleaseKernel(d->k_f32);
  tq_cl_release(&d->words);
  tq_cl_release(&d->levels);
  tq_cl_release(&d->scales);
  free(d->t);
  free(d);
}

/* Every family's decode kernels, per width (kernels/quant_codec.cl). */
static tq_status create_decode_kernels(tq_decoder *d, tq_err *e) {
  char name[48];
  TQ_TRY(tq_cl_kernel(&d->cl, tq_family_info_of(TQ_FAMILY_NONE)->decode_kernel, &d->k_f32, e));
  for (int f = 0; f < TQ_FAMILY_COUNT; f++) {
    const tq_family_info *fi = tq_family_info_of((tq_family)f);
    if (f == TQ_FAMILY_NONE) continue;
    if (fi->wire_sparse) { /* one kernel, no widths */
      TQ_TRY(tq_cl_kernel(&d->cl, fi->decode_kernel, &d->k_dec[f][0], e));
      continue;
    }
    for (int b = 1; b <= 8; b++) {
      snprintf(name, sizeof name, "%s_b%d", fi->decode_kernel, b);
      TQ_TRY(tq_cl_kernel(&d->cl, name, &d->k_dec[f][b - 1], e));
      if (!fi->wire_scales) continue;
      snprintf(name, sizeof name, "%s_pb%d", fi->decode_kernel, b);
      TQ_TRY(tq_cl_kernel(&d->cl, name, &d->k_dec_p[f][b - 1], e));
    }
  }
  return TQ_OK;
}

tq_status tq_decoder_create(const tq_cl *cl, const tq_tensor_desc *tensors, int ntensors,
                            tq_decoder **out, tq_err *e) {
  *out = NULL;
  if (ntensors < 1) return tq_fail(e, TQ_EINPUT, "decoder needs at least one tensor");
  tq_decoder *d = calloc(1, sizeof *d);
  if (!d) return tq_fail(e, TQ_ENOMEM, "out of memory creating a decoder");
  d->cl = *cl;
  d->nt = ntensors;
  d->t = malloc(sizeof *d->t * (size_t)ntensors);
  tq_status s = d->t ? TQ_OK : tq_fail(e, TQ_ENOMEM, "out of memory");
  size_t maxn = 1;
  for (int i = 0; s == TQ_OK && i < ntensors; i++) {
    d->t[i] = tensors[i];
    if (tensors[i].count == 0 || tensors[i].count > UINT32_MAX ||
        tensors[i].offset > UINT32_MAX - tensors[i].count)
      s = tq_fail(e, TQ_EINPUT, "tensor %d: offset %zu count %zu outside 1..2^32-1 elements", i,
                  tensors[i].offset, tensors[i].count);
    maxn = max_sz(maxn, tensors[i].count);
  }
  /* The largest payload any message for these tensors can carry is fp32; scales at most one
   * per element (bucket 1). Allocated once. */
  d->words_cap = 4 * maxn;
  d->scales_cap = 4 * maxn;
  if (s == TQ_OK) s = create_decode_kernels(d, e);
  if (s == TQ_OK) s = tq_cl_alloc(cl, d->words_cap, &d->words, e);
  if (s == TQ_OK) s = tq_cl_alloc(cl, 4 * TQ_MAX_LEVELS, &d->levels, e);
  if (s == TQ_OK) s = tq_cl_alloc(cl, d->scales_cap, &d->scales, e);
  if (s != TQ_OK) {
    tq_decoder_free(d);
    return tq_wrap(e, "creating a decoder");
  }
  *out = d;
  return TQ_OK;
}

/* The arguments every decode kernel of a message takes. */
typedef struct dec_args {
  cl_uint n, ooff, nwords;
  cl_int nlev;
  float weight;
  cl_mem out;
  size_t groups; /* one work-item per 32 elements */
  int bi;        /* bits - 1 */
} dec_args;

static tq_status queue_decode_table(tq_decoder *d, const tq_wire_msg *m, dec_args *a,
                                    tq_err *e) {
  cl_uint zero = 0;
  cl_kernel k = d->k_dec[tq_method_family(m->h.method)][a->bi];
  tq_karg k_args[] = {TQ_ARG(d->words),  TQ_ARG(zero),      TQ_ARG(a->nwords), TQ_ARG(a->n),
                      TQ_ARG(d->levels), TQ_ARG(a->nlev),   TQ_ARG(a->weight), TQ_ARG(a->out),
                      TQ_ARG(a->ooff)};
  return tq_cl_run1d(&d->cl, k, a->groups, tq_cl_group1d(&d->cl, k, 256), k_args, tq_method_family_info(m->h.method)->decode_kernel, e);
}

/* The scales' upload, then the decode (by a shift where the bucket is a power of two). */
static tq_status queue_decode_bucket(tq_decoder *d, const tq_wire_msg *m, dec_args *a,
                                     cl_bool blocking, tq_err *e) {
  TQ_TRY(TQ_CL(clEnqueueWriteBuffer(d->cl.queue, d->scales, blocking, 0, 4u * (size_t)m->nbuckets,
                                    m->scales, 0, NULL, NULL), e));
  const tq_family f = tq_method_family(m->h.method);
  cl_uint bucket = m->h.bucket, zero = 0;
  const bool p2 = (bucket & (bucket - 1u)) == 0;
  if (p2) {
    cl_uint sh = 0;
    while ((1u << sh) < bucket) sh++;
    bucket = sh;
  }
  tq_karg k_args[] = {TQ_ARG(d->words),  TQ_ARG(zero),      TQ_ARG(a->nwords), TQ_ARG(a->n),
                      TQ_ARG(d->levels), TQ_ARG(a->nlev),   TQ_ARG(bucket),    TQ_ARG(d->scales),
                      TQ_ARG(zero),      TQ_ARG(a->weight), TQ_ARG(a->out),    TQ_ARG(a->ooff)};
  cl_kernel k = p2 ? d->k_dec_p[f][a->bi] : d->k_dec[f][a->bi];
  return tq_cl_run1d(&d->cl, k, a->groups, tq_cl_group1d(&d->cl, k, 256), k_args, tq_method_family_info(m->h.method)->decode_kernel, e);
}

/* Sparse: the upload of the K indices and values, one work-item per entry (K = 0: nothing). */
static tq_status queue_decode_sparse(tq_decoder *d, const tq_wire_msg *m, dec_args *a,
                                     cl_bool blocking, tq_err *e) {
  cl_uint k = m->h.k;
  if (!k) return TQ_OK;
  TQ_TRY(TQ_CL(clEnqueueWriteBuffer(d->cl.queue, d->words, blocking, 0, 8u * (size_t)k,
                                    m->payload, 0, NULL, NULL), e));
  cl_kernel kk = d->k_dec[TQ_FAMILY_SPARSE][0];
  tq_karg k_args[] = {TQ_ARG(d->words), TQ_ARG(k), TQ_ARG(a->weight), TQ_ARG(a->out),
                      TQ_ARG(a->ooff)};
  return tq_cl_run1d(&d->cl, kk, k, tq_cl_group1d(&d->cl, kk, 64), k_args, "q_decode_sparse", e);
}

/* Validates, uploads (blocking or not) and queues the decode kernel (explicit work-groups: left
 * to the driver, a global size with few divisors, a prime tensor size, got groups of one). The
 * decoder's staging buffers are reused by every message: the queue is in order, so a later
 * upload runs only after the earlier kernels that read them. */
static tq_status decode_msg(tq_decoder *d, const uint8_t *msg, size_t len, int tensor,
                            float weight, cl_mem out, tq_wire_hdr *hdr, bool blocking,
                            tq_err *e) {
  if (tensor < 0 || tensor >= d->nt)
    return tq_fail(e, TQ_EINPUT, "tensor %d out of range (0..%d)", tensor, d->nt - 1);
  tq_wire_msg m;
  TQ_TRY(tq_wire_parse(msg, len, (uint32_t)tensor, (uint32_t)d->t[tensor].count, &m, e));
  if (hdr) *hdr = m.h;
  if (!isfinite(weight)) return tq_fail(e, TQ_EINPUT, "decode weight %g is not finite", weight);
  size_t obytes = 0;
  TQ_TRY(TQ_CL(clGetMemObjectInfo(out, CL_MEM_SIZE, sizeof obytes, &obytes, NULL), e));
  dec_args a = {.n = m.h.count, .ooff = (cl_uint)d->t[tensor].offset, .weight = weight, .out = out};
  if (4 * ((size_t)a.ooff + a.n) > obytes)
    return tq_fail(e, TQ_EINPUT, "tensor %d lies outside the %zu-byte output buffer", tensor,
                   obytes);
  const cl_bool bl = blocking ? CL_TRUE : CL_FALSE;
  cl_command_queue q = d->cl.queue;
  if (tq_method_family_info(m.h.method)->wire_sparse) return queue_decode_sparse(d, &m, &a, bl, e);
  TQ_TRY(TQ_CL(clEnqueueWriteBuffer(q, d->words, bl, 0, 4 * m.payload_words, m.payload, 0, NULL,
                                    NULL), e));
  const tq_family f = tq_method_family(m.h.method);
  if (f == TQ_FAMILY_NONE) {
    cl_uint zero = 0;
    tq_karg k[] = {TQ_ARG(d->words), TQ_ARG(zero), TQ_ARG(a.n), TQ_ARG(a.weight), TQ_ARG(out),
                   TQ_ARG(a.ooff)};
    return tq_cl_run1d(&d->cl, d->k_f32, a.n, tq_cl_group1d(&d->cl, d->k_f32, 256), k, "q_decode_f32", e);
  }
  TQ_TRY(TQ_CL(clEnqueueWriteBuffer(q, d->levels, bl, 0, 4u * (size_t)m.h.nlev, m.levels, 0,
                                    NULL, NULL), e));
  a.nlev = m.h.nlev;
  a.nwords = (cl_uint)m.payload_words;
  a.groups = (a.n + 31u) / 32u;
  a.bi = m.h.bits - 1;
  if (a.bi < 0 || a.bi > 7) return tq_fail(e, TQ_EINPUT, "bits %d out of range", m.h.bits);
  switch (f) {
  case TQ_FAMILY_BUCKETED: return queue_decode_bucket(d, &m, &a, bl, e);
  case TQ_FAMILY_TRUNCATED: return queue_decode_table(d, &m, &a, e);
  default: return tq_fail(e, TQ_EINTERNAL, "no decoder for method %s", tq_method_name(m.h.method));
  }
}

tq_status tq_decoder_accumulate(tq_decoder *d, const uint8_t *msg, size_t len, int tensor,
                                float weight, cl_mem out, tq_wire_hdr *hdr, tq_err *e) {
  return decode_msg(d, msg, len, tensor, weight, out, hdr, true, e);
}

tq_status tq_decoder_queue(tq_decoder *d, const uint8_t *msg, size_t len, int tensor,
                           float weight, cl_mem out, tq_wire_hdr *hdr, tq_err *e) {
  return decode_msg(d, msg, len, tensor, weight, out, hdr, false, e);
}

tq_status tq_decoder_finish(tq_decoder *d, tq_err *e) { return TQ_CL(clFinish(d->cl.queue), e); }
