/* Per-kernel OpenCL event profiling, process-wide.
 *
 * When a tq_cl was opened with profiling (tq_cl_open(..., true, ...)), every kernel that
 * tq_cl_run1d enqueues and every CLBlast call made through tq_profile_blast_begin/_end
 * registers its event here, keyed by a name ("nn_im2col", "sgemm NT 16x150x6400"). Nothing is
 * waited for at registration: events are kept until tq_profile_collect (or until enough
 * pile up, when the finished ones are folded in), so profiling adds no synchronisation to a
 * step. Host-timed phases (compute, encode, ...) can be added with tq_profile_host so one table
 * shows both.
 *
 * Thread-safe: one mutex guards the table; workers with their own queues register
 * concurrently. Typical use:
 *     tq_profile_reset();            // after warm-up steps
 *     ... run steps on profiling queues ...
 *     tq_profile_collect(&e);        // waits for the registered events
 *     tq_profile_report(stdout, "lenet5, 8 workers");
 */
#ifndef TQ_CL_PROFILE_H
#define TQ_CL_PROFILE_H

#include <stdio.h>

#include "cl/cl_runtime.h"

/* Registers ev (the profiler takes over one reference: it releases ev when folded in). Does
 * nothing but release it when cl does not profile. name is copied. */
void tq_profile_add(const tq_cl *cl, cl_event ev, const char *name);

/* CLBlast routines can run several kernels (pad, transpose, GEMM, unpad) but return the
 * event of the last one only. begin enqueues a marker on cl's queue; end registers the span
 * from the marker's completion to the routine's last event, i.e. every kernel of the
 * routine (the queue is in order). begin returns NULL when cl does not profile; pass its
 * result and the routine's event (NULL allowed) to end. Usage:
 *     cl_event m = tq_profile_blast_begin(cl), ev = NULL;
 *     CLBlastSgemm(..., &cl->queue, m ? &ev : NULL);
 *     tq_profile_blast_end(cl, m, ev, "sgemm ...");                                   */
cl_event tq_profile_blast_begin(const tq_cl *cl);
void tq_profile_blast_end(const tq_cl *cl, cl_event marker, cl_event ev, const char *name);

/* Accumulates seconds of a host-timed phase under name (shown in its own section). */
void tq_profile_host(const char *name, double seconds);

/* Waits for every registered event and folds it into the table. Errors (an event that
 * failed) are reported through e; the table keeps what could be read. */
tq_status tq_profile_collect(tq_err *e);

/* Drops every pending event and all totals. */
void tq_profile_reset(void);

/* Prints the table: name, calls, total ms, mean us, share of the device total; kernels
 * sorted by total time, then the host phases. Collect first. */
void tq_profile_report(FILE *f, const char *title);

/* Number of distinct names with at least one finished call (for tests). */
int tq_profile_count_names(void);
/* Calls and total seconds recorded under name; false if the name is unknown. */
bool tq_profile_lookup(const char *name, long *calls, double *seconds);

#endif
