#include "cl/cl_profile.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NAME_CAP 64
/* Pending events beyond this are folded in as soon as they finish, so a long profiled run
 * holds a bounded number of OpenCL events. */
#define FOLD_AT 4096

typedef struct pending {
  cl_event marker; /* NULL: a single kernel, timed START..END of ev */
  cl_event ev;
  char name[NAME_CAP];
} pending;

typedef struct entry {
  char name[NAME_CAP];
  bool host;
  long calls;
  double seconds;
} entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pending *pend;
static size_t npend, cappend;
static entry *tab;
static size_t ntab, captab;
static long nfailed;

static entry *find(const char *name, bool host) {
  for (size_t i = 0; i < ntab; i++)
    if (tab[i].host == host && strcmp(tab[i].name, name) == 0) return &tab[i];
  if (ntab == captab) {
    size_t nc = captab ? captab * 2 : 64;
    entry *nt = realloc(tab, nc * sizeof *nt);
    if (!nt) return NULL;
    tab = nt;
    captab = nc;
  }
  entry *t = &tab[ntab++];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  t->host = host;
  return t;
}

static bool finished(cl_event ev, cl_int *status) {
  *status = CL_COMPLETE;
  if (!ev) return true;
  if (clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof *status, status, NULL) !=
      CL_SUCCESS)
    *status = -1;
  return *status == CL_COMPLETE || *status < 0;
}

/* Folds one finished record into the table and releases its events. Caller holds mu. */
static void fold(pending *p) {
  cl_ulong t0 = 0, t1 = 0;
  cl_int st_a, st_b;
  finished(p->marker, &st_a);
  finished(p->ev, &st_b);
  bool ok = st_a == CL_COMPLETE && st_b == CL_COMPLETE && p->ev;
  if (ok) {
    if (p->marker)
      ok = clGetEventProfilingInfo(p->marker, CL_PROFILING_COMMAND_END, sizeof t0, &t0, NULL) ==
           CL_SUCCESS;
    else
      ok = clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) ==
           CL_SUCCESS;
    ok = ok && clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) ==
                   CL_SUCCESS;
  }
  entry *t = ok ? find(p->name, false) : NULL;
  if (t) {
    t->calls++;
    t->seconds += t1 > t0 ? (double)(t1 - t0) * 1e-9 : 0.0;
  } else {
    nfailed++;
  }
  if (p->marker) clReleaseEvent(p->marker);
  if (p->ev) clReleaseEvent(p->ev);
}

/* Folds the records that have finished, keeping the order of the rest. Caller holds mu. */
static void fold_finished(void) {
  size_t keep = 0;
  for (size_t i = 0; i < npend; i++) {
    cl_int a, b;
    if (finished(pend[i].marker, &a) && finished(pend[i].ev, &b))
      fold(&pend[i]);
    else
      pend[keep++] = pend[i];
  }
  npend = keep;
}

static void push(cl_event marker, cl_event ev, const char *name) {
  pthread_mutex_lock(&mu);
  if (npend >= FOLD_AT) fold_finished();
  if (npend == cappend) {
    size_t nc = cappend ? cappend * 2 : 256;
    pending *np = realloc(pend, nc * sizeof *np);
    if (!np) {
      /* Out of memory: lose this sample rather than the run. */
      pthread_mutex_unlock(&mu);
      if (marker) clReleaseEvent(marker);
      if (ev) clReleaseEvent(ev);
      return;
    }
    pend = np;
    cappend = nc;
  }
  pending *p = &pend[npend++];
  p->marker = marker;
  p->ev = ev;
  snprintf(p->name, sizeof p->name, "%s", name);
  pthread_mutex_unlock(&mu);
}

void tq_profile_add(const tq_cl *cl, cl_event ev, const char *name) {
  if (!ev) return;
  if (!cl->profiling) {
    clReleaseEvent(ev);
    return;
  }
  push(NULL, ev, name);
}

cl_event tq_profile_blast_begin(const tq_cl *cl) {
  if (!cl->profiling) return NULL;
  cl_event m = NULL;
  if (clEnqueueMarkerWithWaitList(cl->queue, 0, NULL, &m) != CL_SUCCESS) return NULL;
  return m;
}

void tq_profile_blast_end(const tq_cl *cl, cl_event marker, cl_event ev, const char *name) {
  if (!marker || !ev) {
    /* The routine failed (or profiling is off): nothing to time. */
    if (marker) clReleaseEvent(marker);
    if (ev) clReleaseEvent(ev);
    return;
  }
  push(marker, ev, name);
}

void tq_profile_host(const char *name, double seconds) {
  pthread_mutex_lock(&mu);
  entry *t = find(name, true);
  if (t) {
    t->calls++;
    t->seconds += seconds;
  }
  pthread_mutex_unlock(&mu);
}

tq_status tq_profile_collect(tq_err *e) {
  pthread_mutex_lock(&mu);
  /* Wait outside nothing else: registration from other threads blocks meanwhile, which is
   * what a caller collecting at the end of a measured stretch wants. */
  for (size_t i = 0; i < npend; i++) {
    cl_event w[2];
    int nw = 0;
    if (pend[i].marker) w[nw++] = pend[i].marker;
    if (pend[i].ev) w[nw++] = pend[i].ev;
    if (nw) clWaitForEvents((cl_uint)nw, w);
    fold(&pend[i]);
  }
  npend = 0;
  long failed = nfailed;
  nfailed = 0;
  pthread_mutex_unlock(&mu);
  if (failed)
    return tq_fail(e, TQ_ECL, "%ld profiled OpenCL command(s) failed or gave no timing", failed);
  return TQ_OK;
}

void tq_profile_reset(void) {
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < npend; i++) {
    if (pend[i].marker) clReleaseEvent(pend[i].marker);
    if (pend[i].ev) clReleaseEvent(pend[i].ev);
  }
  npend = 0;
  ntab = 0;
  nfailed = 0;
  pthread_mutex_unlock(&mu);
}

static int by_time(const void *a, const void *b) {
  const entry *x = a, *y = b;
  return x->seconds < y->seconds ? 1 : x->seconds > y->seconds ? -1 : strcmp(x->name, y->name);
}

/* Kernels: share of the summed device time. Host phases may nest (a step holds the others),
 * so their share is of the longest one. */
static void section(FILE *f, entry *rows, size_t n, const char *what, bool of_longest) {
  double total = 0;
  for (size_t i = 0; i < n; i++)
    total = of_longest ? (rows[i].seconds > total ? rows[i].seconds : total) : total + rows[i].seconds;
  fprintf(f, "  %-44s %9s %11s %11s %7s\n", what, "calls", "total_ms", "mean_us",
          of_longest ? "of_max" : "share");
  for (size_t i = 0; i < n; i++)
    fprintf(f, "  %-44s %9ld %11.3f %11.1f %6.1f%%\n", rows[i].name, rows[i].calls,
            rows[i].seconds * 1e3, rows[i].calls ? rows[i].seconds * 1e6 / rows[i].calls : 0.0,
            total > 0 ? 100.0 * rows[i].seconds / total : 0.0);
  if (!of_longest) fprintf(f, "  %-44s %9s %11.3f\n", "total", "", total * 1e3);
}

void tq_profile_report(FILE *f, const char *title) {
  pthread_mutex_lock(&mu);
  entry *rows = malloc((ntab ? ntab : 1) * sizeof *rows);
  size_t nk = 0, nh = 0;
  if (rows) {
    for (size_t i = 0; i < ntab; i++)
      if (!tab[i].host) rows[nk++] = tab[i];
    for (size_t i = 0; i < ntab; i++)
      if (tab[i].host) rows[nk + nh++] = tab[i];
  }
  pthread_mutex_unlock(&mu);
  if (!rows) return;
  qsort(rows, nk, sizeof *rows, by_time);
  fprintf(f, "profile%s%s (device time per kernel, OpenCL events; all queues summed)\n",
          title && *title ? ": " : "", title ? title : "");
  section(f, rows, nk, "kernel", false);
  if (nh) {
    fprintf(f, "phases (host wall time)\n");
    section(f, rows + nk, nh, "phase", true);
  }
  free(rows);
}

int tq_profile_count_names(void) {
  pthread_mutex_lock(&mu);
  int n = 0;
  for (size_t i = 0; i < ntab; i++) n += !tab[i].host && tab[i].calls > 0;
  pthread_mutex_unlock(&mu);
  return n;
}

bool tq_profile_lookup(const char *name, long *calls, double *seconds) {
  pthread_mutex_lock(&mu);
  bool found = false;
  for (size_t i = 0; i < ntab && !found; i++)
    if (strcmp(tab[i].name, name) == 0) {
      found = true;
      if (calls) *calls = tab[i].calls;
      if (seconds) *seconds = tab[i].seconds;
    }
  pthread_mutex_unlock(&mu);
  return found;
}
