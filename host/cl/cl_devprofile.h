/* Device profiles: how tailquant shapes its work for a kind of device. One table (cl_devprofile.c)
 * holds every profile; a device gets the one its type asks for (CPU -> "cpu", GPU or accelerator
 * -> "gpu"), unless an experiment (`device.profile`) or the environment
 * (TAILQUANT_DEVICE_PROFILE) names another. `tailquant devices` and the run banner show it.
 *
 * A profile decides choices that are all correct on any device but fast on only some: which
 * histogram kernel the tail fit uses, whether the project's own GEMM kernels take the GEMMs they
 * were written for, and the work-group shapes of the elementwise kernels. What a device cannot
 * do at all (its limits) is not a profile's business: every launch is sized from, and checked
 * against, what the device and the kernel report (cl_runtime.h).
 *
 * Known driver limits that no OpenCL query reports are kept beside the profiles, in a table of
 * quirks matched on the platform name. */
#ifndef TQ_CL_DEVPROFILE_H
#define TQ_CL_DEVPROFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

typedef enum {
  /* Lane-private counts in local memory, summed per group: no atomics, vectorises on POCL
   * (whose local atomics ran at 30 M elements/s against 215 M for private counts). Local
   * memory 448 bytes per work-item, so the group is sized to the device's local memory. */
  TQ_HIST_PRIVATE_COUNTS,
  /* One shared 112-bin count per group, incremented with local atomics: what GPUs do fast;
   * 896 bytes of local memory whatever the group size. */
  TQ_HIST_LOCAL_ATOMICS,
} tq_hist_kind;

typedef struct tq_devprofile {
  const char *name;    /* what users type: "cpu", "gpu" */
  const char *summary; /* one line for `tailquant devices` and the banner */
  tq_hist_kind hist;
  /* true: the statistics pass runs as q_stats_v16 (one work-item per chunk, in float16
   * vectors: CPUs); false: as q_stats (a work-group per chunk, work-items as lanes: GPUs). The
   * partials are the same bit for bit (kernels/quant_stats.cl). */
  bool vector_stats;
  size_t hist_group;   /* work-items per histogram group wanted (fewer if the device says so) */
  /* true: the GEMMs nn/gemm.c routes to kernels/nn_gemm.cl go there (written for CPU SIMD lanes:
   * one work-item per 8x32 or 4x4 block); false: every GEMM goes to CLBlast, which ships tuned
   * parameters for most GPUs. */
  bool own_gemms;
  /* Work-group sizes of the elementwise and layout kernels are multiples of this many items;
   * 0: the kernel's CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE (a warp or a wavefront). */
  size_t lane_multiple;
  size_t max_group; /* the largest work-group the sizing helpers form */
  /* Added to the kernels' build options: -DTQ_UNROLL_HINTS asks for the full unrolling POCL's
   * vectoriser needs (kernels/quant_codec.cl). */
  const char *build_options;
} tq_devprofile;

/* The profile named `name` ("cpu", "gpu"), or NULL. */
const tq_devprofile *tq_devprofile_find(const char *name);

/* The profile for a device of OpenCL type `type` ("cpu", "gpu", "accelerator", "other"):
 * `choice` is "auto" (or NULL/empty: then TAILQUANT_DEVICE_PROFILE if set, else auto) or a
 * profile name. An unknown name is a TQ_EINPUT error listing the profiles. */
tq_status tq_devprofile_choose(const char *type, const char *choice, const tq_devprofile **out,
                               tq_err *e);

/* "cpu, gpu": the names, for messages and docs. */
const char *tq_devprofile_names(void);

/* Driver limits no query reports, by platform name (a case-insensitive substring). */
typedef struct tq_cl_quirks {
  /* The implementation is not safe for several host threads at once, even with a context
   * each: Oclgrind 21.10 asserts m_kernelInvocation == NULL (Context::notifyKernelBegin) when
   * two threads launch into queues of one context, and four worker threads with a context each
   * gave wrong parameters and crashed. The cluster runs the workers on such a device one at a
   * time (a worker's whole step under one lock); the server never overlaps them. */
  bool one_thread_at_a_time;
} tq_cl_quirks;

tq_cl_quirks tq_cl_quirks_for(const char *platform_name);

#endif
