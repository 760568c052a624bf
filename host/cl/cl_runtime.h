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
  bool gemm_tuned; /* tuned Xgemm parameters were applied (cl_tuning.h): CLBlast is then the
                    * faster choice for large non-transposed GEMMs (tq_net_sgemm) */
} tq_cl;

/* Opens the device named by spec and builds the kernels. On failure everything made so far
 * is released and a build log, if any, is part of the message. */
tq_status tq_cl_open(tq_cl *cl, const char *spec, bool profiling, tq_err *e);
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
 * must guard their own index against the real size. */
typedef struct tq_karg {
  size_t size;
  const void *ptr;
} tq_karg;
#define TQ_ARG(x) ((tq_karg){sizeof(x), &(x)})
#define TQ_LOCAL(bytes) ((tq_karg){(bytes), NULL})
tq_status tq_cl_run1d(const tq_cl *cl, cl_kernel k, size_t global, size_t local,
                      const tq_karg *args, int nargs, const char *what, tq_err *e);

/* The same for a 1-, 2- or 3-D range: global[d] is rounded up to a multiple of local[d]
 * (local NULL lets the driver choose). */
tq_status tq_cl_runnd(const tq_cl *cl, cl_kernel k, int dims, const size_t *global,
                      const size_t *local, const tq_karg *args, int nargs, const char *what,
                      tq_err *e);

/* Work-group sizes for a 2- or 3-D range whose first dimension (n0 items, the vectorised one)
 * is short: local[0] is n0 rounded up to a multiple of 16 (the CPU vector width) when that is
 * at most 1024, else 256; local[1] the largest divisor of n1 that keeps the group within 1024
 * items and the device's limit (so dimension 1 needs no rounding and kernels no guard on it);
 * local[2] = 1. POCL pays a fixed cost per work-group, so few large groups beat many small ones
 * (im2col at LeNet's shapes ran 20,800 groups of 64). */
void tq_cl_local2(const tq_cl *cl, size_t n0, size_t n1, size_t local[3]);

/* For a 3-D range (w, h, n) over image rows: local = (w rounded up to a multiple of 8, h, the
 * largest divisor of n keeping the group within 1024 items), or smaller along h when w*h alone
 * exceeds that. */
void tq_cl_local_image(const tq_cl *cl, size_t w, size_t h, size_t n, size_t local[3]);

#endif
