/* The OpenCL runtime: find devices, pick one from a user's spec, open a context and queue,
 * and build the project's kernels (embedded at build time, or read from $TAILQUANT_KERNELS).
 *
 * Threads: a tq_cl may be shared by threads for everything except cl_kernel objects, whose
 * arguments are per-object state. Each thread makes its own with tq_cl_kernel(). A thread that
 * wants its own queue copies the struct, sets `queue` to a queue from tq_cl_new_queue(), and
 * passes the copy to the helpers below; only the owner calls tq_cl_close(). */
#ifndef TQ_CL_RUNTIME_H
#define TQ_CL_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "cl/cl_check.h"
#include "cl/cl_devprofile.h"

#define TQ_MAX_DEVICES 32

typedef struct tq_cl_devinfo {
  int platform_index, device_index; /* the "P:D" a user types */
  cl_platform_id platform;
  cl_device_id device;
  char platform_name[128];
  char name[128];
  char type[16]; /* "cpu", "gpu", "accelerator", "other" */
  cl_uint compute_units;
  cl_ulong global_mem, max_alloc, local_mem;
  size_t max_work_group;
  char c_version[64]; /* CL_DEVICE_OPENCL_C_VERSION */
  bool fp64, fp16;
  char driver[64]; /* CL_DRIVER_VERSION */
} tq_cl_devinfo;

/* Every device of every platform, in platform then device order. */
tq_status tq_cl_list_devices(tq_cl_devinfo *out, int cap, int *count, tq_err *e);

/* spec: "auto" or "" (first GPU, else the first device), "cpu", "gpu", "P:D", or a
 * case-insensitive substring of the device or platform name. No match is a TQ_EINPUT
 * error whose message lists the devices that exist. */
tq_status tq_cl_select_device(const char *spec, tq_cl_devinfo *chosen, tq_err *e);

typedef struct tq_cl {
  tq_cl_devinfo info;
  cl_context ctx;
  cl_command_queue queue; /* in-order; profiling enabled when asked for */
  cl_program program;     /* every .cl file of kernels/, built once for this device */
  bool profiling;
  const tq_devprofile *profile; /* how work is shaped for this device (cl_devprofile.h) */
  tq_cl_quirks quirks;          /* driver limits no query reports */
  char *build_log;              /* the kernel build's log when it said anything (warnings), else NULL */
  bool gemm_tuned; /* tuned Xgemm parameters were applied (cl_tuning.h): CLBlast is then the
                    * faster choice for large non-transposed GEMMs (nn/gemm.c) */
} tq_cl;

/* Opens the device named by spec and builds the kernels. On failure everything made so far
 * is released and a build log, if any, is part of the message; its line numbers are given as
 * kernel file and line even where the compiler ignores #line (Oclgrind says "input.cl:N").
 * tq_cl_open_as also names the device profile ("auto", "cpu", "gpu"; NULL: auto, or
 * TAILQUANT_DEVICE_PROFILE); tq_cl_open uses auto. */
tq_status tq_cl_open(tq_cl *cl, const char *spec, bool profiling, tq_err *e);
tq_status tq_cl_open_as(tq_cl *cl, const char *spec, const char *profile, bool profiling,
                        tq_err *e);
void tq_cl_close(tq_cl *cl);
tq_status tq_cl_new_queue(const tq_cl *cl, cl_command_queue *out, tq_err *e);

/* A fresh kernel object for the calling thread. */
tq_status tq_cl_kernel(const tq_cl *cl, const char *name, cl_kernel *out, tq_err *e);

/* Kernel sources, concatenated in file-name order, with a line marker per file so that
 * build logs point at the right file. Caller frees. */
tq_status tq_cl_kernel_source(char **out, tq_err *e);

/* Device buffer helpers: sizes in bytes; all checked. */
tq_status tq_cl_alloc(const tq_cl *cl, size_t bytes, cl_mem *out, tq_err *e);
tq_status tq_cl_write(const tq_cl *cl, cl_mem buf, size_t offset, size_t bytes, const void *src,
                      tq_err *e);
tq_status tq_cl_read(const tq_cl *cl, cl_mem buf, size_t offset, size_t bytes, void *dst,
                     tq_err *e);
tq_status tq_cl_fill_zero(const tq_cl *cl, cl_mem buf, size_t offset, size_t bytes, tq_err *e);
void tq_cl_release(cl_mem *buf);

/* Sets kernel arguments from a list of (size, pointer) pairs and enqueues a 1-D range of
 * `global` items, rounded up to a multiple of `local` (0 lets the driver choose). Kernels
 * must guard their own index against the real size. Before enqueueing, a given work-group
 * size is checked against the kernel's CL_KERNEL_WORK_GROUP_SIZE on this device and the
 * kernel's local memory (its __local arguments included) against CL_DEVICE_LOCAL_MEM_SIZE:
 * a launch that cannot fit is a TQ_ECL error naming the device, the kernel and both
 * figures, never a driver's CL_OUT_OF_RESOURCES. */
typedef struct tq_karg {
  size_t size;
  const void *ptr;
} tq_karg;
#define TQ_ARG(x) ((tq_karg){sizeof(x), &(x)})
#define TQ_LOCAL(bytes) ((tq_karg){(bytes), NULL})
/* The argument count of an array of tq_karg. A pointer is refused at compile time (its sizeof
 * would give a wrong count silently), so no launch can pass a count that does not match its
 * arguments: tq_cl_run1d and tq_cl_runnd take the array and count it themselves. */
#define TQ_NARGS(a)                                                                               \
  ((int)(sizeof(a) / sizeof((a)[0])) +                                                            \
   0 * (int)sizeof(struct {                                                                       \
     int not_an_array : __builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0])) ? -1 : 1; \
   }))
tq_status tq_cl_run1d_n(const tq_cl *cl, cl_kernel k, size_t global, size_t local,
                        const tq_karg *args, int nargs, const char *what, tq_err *e);
#define tq_cl_run1d(cl, k, global, local, args, what, e)                                          \
  tq_cl_run1d_n(cl, k, global, local, args, TQ_NARGS(args), what, e)

/* The same for a 1-, 2- or 3-D range: global[d] is rounded up to a multiple of local[d]
 * (local NULL lets the driver choose). */
tq_status tq_cl_runnd_n(const tq_cl *cl, cl_kernel k, int dims, const size_t *global,
                        const size_t *local, const tq_karg *args, int nargs, const char *what,
                        tq_err *e);
#define tq_cl_runnd(cl, k, dims, global, local, args, what, e)                                    \
  tq_cl_runnd_n(cl, k, dims, global, local, args, TQ_NARGS(args), what, e)

/* The check tq_cl_run1d makes before a launch of `items` work-items per group (arguments set). */
tq_status tq_cl_check_fit(const tq_cl *cl, cl_kernel k, size_t items, const char *what,
                          tq_err *e);

/* The most work-items a group of kernel k may have on this device: the smaller of
 * CL_KERNEL_WORK_GROUP_SIZE and the profile's max_group. */
size_t tq_cl_group_cap(const tq_cl *cl, cl_kernel k);

/* The lane multiple work-group sizes keep for kernel k: the profile's, or the kernel's
 * CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE. */
size_t tq_cl_lane_multiple(const tq_cl *cl, cl_kernel k);

/* A 1-D work-group size for kernel k whose results do not depend on it: `want` lowered to the
 * kernel's cap and to a multiple of its lane multiple (at least 1). */
size_t tq_cl_group1d(const tq_cl *cl, cl_kernel k, size_t want);

/* Work-group sizes for a 2- or 3-D range whose first dimension (n0 items, the vectorised one)
 * is short: local[0] is n0 rounded up to the lane multiple when that fits the kernel's cap,
 * else the largest multiple of it up to 256; local[1] the largest divisor of n1 that keeps
 * the group within the cap (so dimension 1 needs no rounding and kernels no guard on it);
 * local[2] = 1. POCL pays a fixed cost per work-group, so few large groups beat many small
 * ones (im2col at LeNet's shapes ran 20,800 groups of 64). */
void tq_cl_local2(const tq_cl *cl, cl_kernel k, size_t n0, size_t n1, size_t local[3]);

/* For a 3-D range (w, h, n) over image rows: local = (w rounded up to a multiple of 8 (the
 * profile's lane multiple on a GPU), h, the largest divisor of n keeping the group within the
 * cap), or smaller along h when w*h alone exceeds that. */
void tq_cl_local_image(const tq_cl *cl, cl_kernel k, size_t w, size_t h, size_t n,
                       size_t local[3]);

#endif
