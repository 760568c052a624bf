#include "cluster/mpi_link.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/messages.h"
#include "compress/compressor.h"
#include "util/fileio.h"

/* A record in a rank's step blob: header, then `len` bytes. kind is TQ_MSG_REPORT (a
 * tq_worker_report) or TQ_MSG_GRADIENT (one tensor's wire-format message): cluster/messages.h. */
typedef struct rec_hdr {
  uint32_t kind, worker;
  int32_t tensor;
  uint32_t len;
} rec_hdr;

static tq_status mpi_check(int rc, const char *call, tq_err *e) {
  if (rc == MPI_SUCCESS) return TQ_OK;
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(rc, text, &n);
  return tq_fail(e, TQ_EIO, "%s failed: %s", call, text);
}
#define MPI_TRY(call) TQ_TRY(mpi_check((call), #call, e))

tq_status tq_mpi_init(int *argc, char ***argv, tq_mpi *m, tq_err *e) {
  memset(m, 0, sizeof *m);
  MPI_TRY(MPI_Init(argc, argv));
  /* Errors come back as codes so they can be reported with the rank before aborting. */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &m->size);
  if (gethostname(m->host, sizeof m->host) != 0) snprintf(m->host, sizeof m->host, "?");
  m->host[sizeof m->host - 1] = '\0';
  return TQ_OK;
}

void tq_mpi_finalize(void) { MPI_Finalize(); }

void tq_mpi_abort(const tq_mpi *m, const char *msg, int code) {
  fprintf(stderr, "tailquant: rank %d of %d (%s): %s\n", m->rank, m->size, m->host, msg);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
  exit(code ? code : 1); /* not reached */
}

static tq_status append(tq_buf *b, const void *p, size_t n, tq_err *e) {
  TQ_TRY(tq_buf_reserve(b, b->len + n, e));
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return TQ_OK;
}

/* This rank's reports and messages, framed. */
static tq_status pack(tq_cluster *c, const tq_mpi *m, int nworkers, tq_buf *blob, tq_err *e) {
  blob->len = 0;
  int T = tq_cluster_tensor_count(c);
  for (int w = 0; w < nworkers; w++) {
    if (w % m->size != m->rank) continue;
    rec_hdr h = {TQ_MSG_REPORT, (uint32_t)w, -1, sizeof(tq_worker_report)};
    TQ_TRY(append(blob, &h, sizeof h, e));
    TQ_TRY(append(blob, tq_cluster_report(c, w), sizeof(tq_worker_report), e));
    for (int t = 0; t < T; t++) {
      size_t len;
      const uint8_t *msg = tq_cluster_message(c, w, t, &len);
      rec_hdr mh = {TQ_MSG_GRADIENT, (uint32_t)w, t, (uint32_t)len};
      TQ_TRY(append(blob, &mh, sizeof mh, e));
      TQ_TRY(append(blob, msg, len, e));
    }
  }
  if (blob->len > INT_MAX)
    return tq_fail(e, TQ_EINPUT, "rank %d: %zu bytes in one step exceed MPI's int count", m->rank,
                   blob->len);
  return TQ_OK;
}

/* Files another rank's blob on rank 0. Nothing in it is trusted: framing, worker ownership and
 * lengths are checked, and each message is validated again when filed. */
static tq_status unpack(tq_cluster *c, const tq_mpi *m, int from, const uint8_t *p, size_t n,
                        int nworkers, uint32_t iteration, long *rejected, tq_err *e) {
  size_t off = 0;
  while (off < n) {
    rec_hdr h;
    if (n - off < sizeof h)
      return tq_fail(e, TQ_EINPUT, "rank %d sent a truncated record header at byte %zu", from, off);
    memcpy(&h, p + off, sizeof h);
    off += sizeof h;
    if (h.len > n - off)
      return tq_fail(e, TQ_EINPUT, "rank %d: a record of %u bytes runs past the end (%zu left)",
                     from, h.len, n - off);
    if (h.worker >= (uint32_t)nworkers || (int)(h.worker % (uint32_t)m->size) != from)
      return tq_fail(e, TQ_EINPUT, "rank %d sent a record for worker %u, which it does not run",
                     from, h.worker);
    if (h.kind == TQ_MSG_REPORT) {
      tq_worker_report r;
      if (h.len != sizeof r)
        return tq_fail(e, TQ_EINPUT, "rank %d: report of %u bytes, expected %zu", from, h.len, sizeof r);
      memcpy(&r, p + off, sizeof r);
      if (r.worker != h.worker)
        return tq_fail(e, TQ_EINPUT, "rank %d: report for worker %u filed as worker %u", from,
                       r.worker, h.worker);
      TQ_TRY(tq_cluster_file_report(c, &r, e));
    } else if (h.kind == TQ_MSG_GRADIENT) {
      uint8_t *copy = malloc(h.len ? h.len : 1);
      if (!copy) return tq_fail(e, TQ_ENOMEM, "out of memory for rank %d's message", from);
      memcpy(copy, p + off, h.len);
      tq_cluster_file_message(c, h.worker, h.tensor, copy, h.len, iteration, rejected);
    } else {
      /* TQ_MSG_FAILED and TQ_MSG_NONFINITE never travel between ranks: a failing rank aborts */
      return tq_fail(e, TQ_EINPUT, "rank %d sent a record of unknown kind %u", from, h.kind);
    }
    off += h.len;
  }
  return TQ_OK;
}

tq_status tq_mpi_step(tq_mpi *m, tq_cluster *c, const tq_step_in *in, tq_step_out *out, tq_err *e) {
  memset(out, 0, sizeof *out);
  const tq_cluster_cfg *cfg = tq_cluster_config(c);
  const int nworkers = cfg->workers;
  float *params = tq_cluster_params_host(c);
  const size_t np = cfg->model->nparams;
  uint64_t bytes = 0;
  double t0 = tq_now_seconds();
  MPI_TRY(MPI_Bcast(params, (int)np, MPI_FLOAT, 0, MPI_COMM_WORLD));
  bytes += (uint64_t)np * 4 * (uint64_t)(m->size - 1);
  double t_bcast = tq_now_seconds() - t0;

  double t_queue = 0;
  TQ_TRY(tq_cluster_run_local(c, in, &t_queue, &out->rejected, e));

  double t1 = tq_now_seconds();
  tq_buf blob = {0};
  tq_status s = m->rank == 0 ? TQ_OK : pack(c, m, nworkers, &blob, e);
  int mine = (int)blob.len;
  int *counts = NULL, *displs = NULL;
  uint8_t *all = NULL;
  if (s == TQ_OK && m->rank == 0) {
    counts = calloc((size_t)m->size, sizeof *counts);
    displs = calloc((size_t)m->size, sizeof *displs);
    if (!counts || !displs) s = tq_fail(e, TQ_ENOMEM, "out of memory");
  }
  if (s == TQ_OK) s = mpi_check(MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather", e);
  bytes += (uint64_t)(m->size - 1) * sizeof(int);
  size_t total = 0;
  if (s == TQ_OK && m->rank == 0) {
    for (int r = 0; r < m->size; r++) {
      displs[r] = (int)total;
      total += (size_t)counts[r];
    }
    if (total > INT_MAX) s = tq_fail(e, TQ_EINPUT, "a step's messages total %zu bytes, over MPI's int count", total);
    all = malloc(total ? total : 1);
    if (s == TQ_OK && !all) s = tq_fail(e, TQ_ENOMEM, "out of memory for %zu bytes of messages", total);
  }
  if (s == TQ_OK)
    s = mpi_check(MPI_Gatherv(blob.data, mine, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, MPI_COMM_WORLD),
                  "MPI_Gatherv", e);
  if (s == TQ_OK && m->rank == 0) bytes += total;
  if (s == TQ_OK && cfg->measure_mse) {
    double *sum = tq_cluster_raw_sum(c);
    s = mpi_check(MPI_Reduce(m->rank == 0 ? MPI_IN_PLACE : sum, sum, (int)np, MPI_DOUBLE, MPI_SUM, 0,
                             MPI_COMM_WORLD),
                  "MPI_Reduce", e);
    m->diag_bytes += (uint64_t)np * 8 * (uint64_t)(m->size - 1);
  }
  double t_exchange = tq_now_seconds() - t1 + t_bcast;
  if (s == TQ_OK && m->rank == 0) {
    for (int r = 1; r < m->size && s == TQ_OK; r++)
      s = unpack(c, m, r, all + displs[r], (size_t)counts[r], nworkers, in->iteration, &out->rejected, e);
    if (s == TQ_OK) s = tq_cluster_server_update(c, in, out, e);
    out->t_queue = t_queue + t_exchange;
  }
  if (m->rank != 0) tq_cluster_drop_messages(c);
  /* Every rank's bytes are known to all: the counts are a property of the step, but only rank 0
   * saw them all; the others count what they sent. */
  m->step_bytes = bytes;
  m->total_bytes += bytes;
  free(counts);
  free(displs);
  free(all);
  tq_buf_free(&blob);
  return s;
}

/* A worker's residual as one flat array (zeros where a tensor keeps none). */
static tq_status residual_of(tq_cluster *c, int w, float *dst, tq_err *e) {
  const tq_model *model = tq_cluster_config(c)->model;
  for (int t = 0; t < model->ntensors; t++)
    TQ_TRY(tq_compressor_residual(tq_cluster_compressor(c, w), t, dst + model->tensors[t].offset, e));
  return TQ_OK;
}

tq_status tq_mpi_gather_residuals(tq_mpi *m, tq_cluster *c, float *all, tq_err *e) {
  const tq_cluster_cfg *cfg = tq_cluster_config(c);
  const size_t np = cfg->model->nparams;
  float *buf = malloc(np * sizeof *buf);
  if (!buf) return tq_fail(e, TQ_ENOMEM, "out of memory gathering residuals");
  tq_status s = TQ_OK;
  /* Point to point, one worker at a time: checkpoints are rare and this keeps memory flat. */
  for (int w = 0; s == TQ_OK && w < cfg->workers; w++) {
    int owner = w % m->size;
    if (owner == 0) {
      if (m->rank == 0) s = residual_of(c, w, all + (size_t)w * np, e);
    } else if (m->rank == owner) {
      s = residual_of(c, w, buf, e);
      if (s == TQ_OK) s = mpi_check(MPI_Send(buf, (int)np, MPI_FLOAT, 0, w, MPI_COMM_WORLD), "MPI_Send", e);
    } else if (m->rank == 0) {
      s = mpi_check(MPI_Recv(all + (size_t)w * np, (int)np, MPI_FLOAT, owner, w, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE),
                    "MPI_Recv", e);
    }
  }
  free(buf);
  return s;
}

tq_status tq_mpi_scatter_residuals(tq_mpi *m, tq_cluster *c, const float *all, tq_err *e) {
  const tq_cluster_cfg *cfg = tq_cluster_config(c);
  const tq_model *model = cfg->model;
  const size_t np = model->nparams;
  float *buf = malloc(np * sizeof *buf);
  if (!buf) return tq_fail(e, TQ_ENOMEM, "out of memory restoring residuals");
  tq_status s = TQ_OK;
  for (int w = 0; s == TQ_OK && w < cfg->workers; w++) {
    int owner = w % m->size;
    const float *src = NULL;
    if (owner == 0 && m->rank == 0) {
      src = all + (size_t)w * np;
    } else if (m->rank == 0) {
      s = mpi_check(MPI_Send(all + (size_t)w * np, (int)np, MPI_FLOAT, owner, w, MPI_COMM_WORLD), "MPI_Send", e);
    } else if (m->rank == owner) {
      s = mpi_check(MPI_Recv(buf, (int)np, MPI_FLOAT, 0, w, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv", e);
      src = buf;
    }
    for (int t = 0; s == TQ_OK && src && t < model->ntensors; t++)
      s = tq_compressor_set_residual(tq_cluster_compressor(c, w), t, src + model->tensors[t].offset, e);
  }
  free(buf);
  return s;
}

tq_status tq_mpi_bcast(tq_mpi *m, void *buf, size_t n, tq_err *e) {
  (void)m;
  if (n > INT_MAX) return tq_fail(e, TQ_EINPUT, "broadcast of %zu bytes exceeds MPI's int count", n);
  MPI_TRY(MPI_Bcast(buf, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD));
  return TQ_OK;
}

tq_status tq_mpi_agree(tq_mpi *m, tq_status mine, tq_err *e) {
  (void)m;
  int in = (int)mine, worst = 0;
  MPI_TRY(MPI_Allreduce(&in, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
  return (tq_status)worst;
}
