#include "cl/cl_runtime.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl_profile.h"
#include "cl/cl_tuning.h"
#include "util/fileio.h"

struct tq_embedded_kernel {
  const char *name;
  const char *source;
};
extern const struct tq_embedded_kernel tq_embedded_kernels[];

static void info_string(cl_device_id d, cl_device_info what, char *dst, size_t cap) {
  dst[0] = '\0';
  if (clGetDeviceInfo(d, what, cap, dst, NULL) != CL_SUCCESS) snprintf(dst, cap, "?");
  dst[cap - 1] = '\0';
  /* Drivers pad some names with spaces. */
  size_t n = strlen(dst);
  while (n > 0 && isspace((unsigned char)dst[n - 1])) dst[--n] = '\0';
}

static void fill_info(tq_cl_devinfo *di) {
  cl_device_id d = di->device;
  info_string(d, CL_DEVICE_NAME, di->name, sizeof di->name);
  info_string(d, CL_DEVICE_OPENCL_C_VERSION, di->c_version, sizeof di->c_version);
  char ext[8192];
  info_string(d, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
  cl_device_type t = 0;
  clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
  snprintf(di->type, sizeof di->type, "%s",
           (t & CL_DEVICE_TYPE_GPU)           ? "gpu"
           : (t & CL_DEVICE_TYPE_CPU)         ? "cpu"
           : (t & CL_DEVICE_TYPE_ACCELERATOR) ? "accelerator"
                                              : "other");
  clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof di->compute_units, &di->compute_units,
                  NULL);
  clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof di->global_mem, &di->global_mem, NULL);
  clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof di->max_alloc, &di->max_alloc, NULL);
  clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof di->local_mem, &di->local_mem, NULL);
  clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof di->max_work_group,
                  &di->max_work_group, NULL);
  cl_device_fp_config fp = 0;
  clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp, &fp, NULL);
  di->fp64 = fp != 0 || strstr(ext, "cl_khr_fp64") != NULL;
  di->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
}

tq_status tq_cl_list_devices(tq_cl_devinfo *out, int cap, int *count, tq_err *e) {
  *count = 0;
  cl_uint np = 0;
  cl_int rc = clGetPlatformIDs(0, NULL, &np);
  if (rc == CL_PLATFORM_NOT_FOUND_KHR || np == 0)
    return tq_fail(e, TQ_ECL,
                   "no OpenCL platform found: install an OpenCL driver (for the CPU: apt-get "
                   "install pocl-opencl-icd) and check /etc/OpenCL/vendors/");
  TQ_TRY(TQ_CL(rc, e));
  cl_platform_id plats[16];
  if (np > 16) np = 16;
  TQ_TRY(TQ_CL(clGetPlatformIDs(np, plats, NULL), e));
  for (cl_uint p = 0; p < np; p++) {
    char pname[128] = "";
    clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
    pname[sizeof pname - 1] = '\0';
    cl_uint nd = 0;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS) continue;
    cl_device_id devs[TQ_MAX_DEVICES];
    if (nd > TQ_MAX_DEVICES) nd = TQ_MAX_DEVICES;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL) != CL_SUCCESS) continue;
    for (cl_uint d = 0; d < nd && *count < cap; d++) {
      tq_cl_devinfo *di = &out[(*count)++];
      memset(di, 0, sizeof *di);
      di->platform_index = (int)p;
      di->device_index = (int)d;
      di->platform = plats[p];
      di->device = devs[d];
      snprintf(di->platform_name, sizeof di->platform_name, "%s", pname);
      fill_info(di);
    }
  }
  if (*count == 0) return tq_fail(e, TQ_ECL, "OpenCL platforms exist but none has a device");
  return TQ_OK;
}

static bool contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == n) return true;
  }
  return n == 0;
}

tq_status tq_cl_select_device(const char *spec, tq_cl_devinfo *chosen, tq_err *e) {
  tq_cl_devinfo all[TQ_MAX_DEVICES];
  int n = 0;
  TQ_TRY(tq_cl_list_devices(all, TQ_MAX_DEVICES, &n, e));
  if (!spec) spec = "";
  int pick = -1;
  int p, d;
  char tail;
  if (spec[0] == '\0' || strcmp(spec, "auto") == 0) {
    for (int i = 0; i < n && pick < 0; i++)
      if (strcmp(all[i].type, "gpu") == 0) pick = i;
    if (pick < 0) pick = 0;
  } else if (strcmp(spec, "cpu") == 0 || strcmp(spec, "gpu") == 0 ||
             strcmp(spec, "accelerator") == 0) {
    for (int i = 0; i < n && pick < 0; i++)
      if (strcmp(all[i].type, spec) == 0) pick = i;
  } else if (sscanf(spec, "%d:%d%c", &p, &d, &tail) == 2) {
    for (int i = 0; i < n && pick < 0; i++)
      if (all[i].platform_index == p && all[i].device_index == d) pick = i;
  } else {
    for (int i = 0; i < n && pick < 0; i++)
      if (contains_ci(all[i].name, spec) || contains_ci(all[i].platform_name, spec)) pick = i;
  }
  if (pick < 0) {
    char list[1536] = "";
    size_t used = 0;
    for (int i = 0; i < n && used < sizeof list; i++)
      used += (size_t)snprintf(list + used, sizeof list - used, "\n  %d:%d  %s  [%s, %s]",
                               all[i].platform_index, all[i].device_index, all[i].name,
                               all[i].type, all[i].platform_name);
    return tq_fail(e, TQ_EINPUT,
                   "no OpenCL device matches '%s' (use auto, cpu, gpu, P:D or part of a name); "
                   "devices present:%s",
                   spec, list);
  }
  *chosen = all[pick];
  return TQ_OK;
}

/* ---- kernel sources ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static tq_status append(char **buf, size_t *len, size_t *cap, const char *s, tq_err *e) {
  size_t n = strlen(s);
  if (*len + n + 1 > *cap) {
    size_t nc = (*cap ? *cap * 2 : 65536);
    while (nc < *len + n + 1) nc *= 2;
    char *nb = realloc(*buf, nc);
    if (!nb) return tq_fail(e, TQ_ENOMEM, "out of memory assembling kernel sources");
    *buf = nb;
    *cap = nc;
  }
  memcpy(*buf + *len, s, n + 1);
  *len += n;
  return TQ_OK;
}

static tq_status append_file(char **buf, size_t *len, size_t *cap, const char *name,
                             const char *src, tq_err *e) {
  char marker[512];
  snprintf(marker, sizeof marker, "\n#line 1 \"%s\"\n", name);
  TQ_TRY(append(buf, len, cap, marker, e));
  return append(buf, len, cap, src, e);
}

tq_status tq_cl_kernel_source(char **out, tq_err *e) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  tq_status s = append(&buf, &len, &cap, "/* tailquant kernels */\n", e);
  const char *dir = getenv("TAILQUANT_KERNELS");
  if (s == TQ_OK && dir && dir[0]) {
    DIR *dh = opendir(dir);
    if (!dh) {
      free(buf);
      return tq_fail(e, TQ_EINPUT, "TAILQUANT_KERNELS=%s: cannot open folder", dir);
    }
    char *names[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dh)) && n < 256) {
      size_t l = strlen(de->d_name);
      if (l > 3 && strcmp(de->d_name + l - 3, ".cl") == 0) names[n++] = strdup(de->d_name);
    }
    closedir(dh);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    for (int i = 0; i < n; i++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
      char *src = NULL;
      size_t srclen = 0;
      if (s == TQ_OK) s = tq_read_file(path, &src, &srclen, e);
      if (s == TQ_OK) s = append_file(&buf, &len, &cap, path, src, e);
      free(src);
      free(names[i]);
    }
    if (s == TQ_OK && n == 0) s = tq_fail(e, TQ_EINPUT, "TAILQUANT_KERNELS=%s holds no .cl file", dir);
  } else {
    for (int i = 0; s == TQ_OK && tq_embedded_kernels[i].name; i++)
      s = append_file(&buf, &len, &cap, tq_embedded_kernels[i].name,
                      tq_embedded_kernels[i].source, e);
  }
  if (s != TQ_OK) {
    free(buf);
    return s;
  }
  *out = buf;
  return TQ_OK;
}

/* ---- context ------------------------------------------------------------------------- */

static tq_status build_program(tq_cl *cl, tq_err *e) {
  char *src = NULL;
  TQ_TRY(tq_cl_kernel_source(&src, e));
  cl_int rc;
  const char *srcs[1] = {src};
  cl->program = clCreateProgramWithSource(cl->ctx, 1, srcs, NULL, &rc);
  free(src);
  TQ_TRY(TQ_CL(rc, e));
  /* OpenCL C 1.2 is what every target (POCL 3, NVIDIA, AMD, Intel) accepts. */
  rc = clBuildProgram(cl->program, 1, &cl->info.device, "-cl-std=CL1.2", NULL, NULL);
  if (rc != CL_SUCCESS) {
    size_t loglen = 0;
    clGetProgramBuildInfo(cl->program, cl->info.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &loglen);
    char *log = calloc(loglen + 1, 1);
    if (log)
      clGetProgramBuildInfo(cl->program, cl->info.device, CL_PROGRAM_BUILD_LOG, loglen, log,
                            NULL);
    /* The whole log goes to stderr; the message carries its start. */
    fprintf(stderr, "OpenCL build log for %s:\n%s\n", cl->info.name, log ? log : "(none)");
    tq_fail(e, TQ_ECL, "building the kernels for %s failed with %s; build log:\n%.1500s",
            cl->info.name, tq_cl_error_name(rc), log ? log : "(none)");
    free(log);
    return TQ_ECL;
  }
  return TQ_OK;
}

tq_status tq_cl_new_queue(const tq_cl *cl, cl_command_queue *out, tq_err *e) {
  cl_int rc;
  cl_command_queue_properties props = cl->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
  *out = clCreateCommandQueue(cl->ctx, cl->info.device, props, &rc);
  return TQ_CL(rc, e);
}

tq_status tq_cl_open(tq_cl *cl, const char *spec, bool profiling, tq_err *e) {
  memset(cl, 0, sizeof *cl);
  cl->profiling = profiling;
  TQ_TRY(tq_cl_select_device(spec, &cl->info, e));
  cl_int rc;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)cl->info.platform,
                                   0};
  cl->ctx = clCreateContext(props, 1, &cl->info.device, NULL, NULL, &rc);
  tq_status s = TQ_CL(rc, e);
  if (s == TQ_OK) s = tq_cl_new_queue(cl, &cl->queue, e);
  if (s == TQ_OK) s = build_program(cl, e);
  /* Tuned CLBlast parameters for this device, if `tailquant tune` stored any. A missing or
   * unreadable cache leaves CLBlast's defaults (a warning says why); it never fails the open. */
  if (s == TQ_OK) tq_tuning_apply(&cl->info, stderr, &cl->gemm_tuned);
  if (s != TQ_OK) {
    tq_wrap(e, "opening OpenCL device %d:%d (%s)", cl->info.platform_index,
            cl->info.device_index, cl->info.name);
    tq_cl_close(cl);
  }
  return s;
}

void tq_cl_close(tq_cl *cl) {
  if (cl->queue) {
    clFinish(cl->queue);
    clReleaseCommandQueue(cl->queue);
  }
  if (cl->program) clReleaseProgram(cl->program);
  if (cl->ctx) clReleaseContext(cl->ctx);
  cl->queue = NULL;
  cl->program = NULL;
  cl->ctx = NULL;
}

tq_status tq_cl_kernel(const tq_cl *cl, const char *name, cl_kernel *out, tq_err *e) {
  cl_int rc;
  *out = clCreateKernel(cl->program, name, &rc);
  if (rc != CL_SUCCESS)
    return tq_fail(e, TQ_ECL, "clCreateKernel(\"%s\") failed with %s (%d)", name,
                   tq_cl_error_name(rc), rc);
  return TQ_OK;
}

/* ---- buffers ------------------------------------------------------------------------- */

tq_status tq_cl_alloc(const tq_cl *cl, size_t bytes, cl_mem *out, tq_err *e) {
  *out = NULL;
  if (bytes == 0) bytes = 4; /* zero-sized buffers are invalid in OpenCL */
  if (bytes > cl->info.max_alloc)
    return tq_fail(e, TQ_ENOMEM,
                   "a buffer of %zu bytes exceeds the largest allocation %s allows (%llu bytes)",
                   bytes, cl->info.name, (unsigned long long)cl->info.max_alloc);
  cl_int rc;
  *out = clCreateBuffer(cl->ctx, CL_MEM_READ_WRITE, bytes, NULL, &rc);
  return TQ_CL(rc, e);
}

tq_status tq_cl_write(const tq_cl *cl, cl_mem buf, size_t offset, size_t bytes, const void *src,
                      tq_err *e) {
  if (bytes == 0) return TQ_OK;
  return TQ_CL(clEnqueueWriteBuffer(cl->queue, buf, CL_TRUE, offset, bytes, src, 0, NULL, NULL), e);
}

tq_status tq_cl_read(const tq_cl *cl, cl_mem buf, size_t offset, size_t bytes, void *dst,
                     tq_err *e) {
  if (bytes == 0) return TQ_OK;
  return TQ_CL(clEnqueueReadBuffer(cl->queue, buf, CL_TRUE, offset, bytes, dst, 0, NULL, NULL), e);
}

tq_status tq_cl_fill_zero(const tq_cl *cl, cl_mem buf, size_t offset, size_t bytes, tq_err *e) {
  if (bytes == 0) return TQ_OK;
  const cl_uint zero = 0;
  size_t pat = (offset % 4 == 0 && bytes % 4 == 0) ? 4 : 1;
  return TQ_CL(clEnqueueFillBuffer(cl->queue, buf, &zero, pat, offset, bytes, 0, NULL, NULL), e);
}

void tq_cl_release(cl_mem *buf) {
  if (buf && *buf) {
    clReleaseMemObject(*buf);
    *buf = NULL;
  }
}

tq_status tq_cl_run1d(const tq_cl *cl, cl_kernel k, size_t global, size_t local,
                      const tq_karg *args, int nargs, const char *what, tq_err *e) {
  for (int i = 0; i < nargs; i++) {
    cl_int rc = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].ptr);
    if (rc != CL_SUCCESS)
      return tq_fail(e, TQ_ECL, "clSetKernelArg(%s, arg %d) failed with %s (%d)", what, i,
                     tq_cl_error_name(rc), rc);
  }
  if (global == 0) return TQ_OK;
  size_t g = global;
  if (local) g = (global + local - 1) / local * local;
  /* An event only when profiling: creating one per kernel is not free on every driver. */
  cl_event ev = NULL;
  cl_int rc = clEnqueueNDRangeKernel(cl->queue, k, 1, NULL, &g, local ? &local : NULL, 0, NULL,
                                     cl->profiling ? &ev : NULL);
  if (rc != CL_SUCCESS)
    return tq_fail(e, rc == CL_OUT_OF_RESOURCES ? TQ_ENOMEM : TQ_ECL,
                   "clEnqueueNDRangeKernel(%s, global %zu, local %zu) failed with %s (%d)", what,
                   g, local, tq_cl_error_name(rc), rc);
  if (ev) tq_profile_add(cl, ev, what);
  return TQ_OK;
}

tq_status tq_cl_runnd(const tq_cl *cl, cl_kernel k, int dims, const size_t *global,
                      const size_t *local, const tq_karg *args, int nargs, const char *what,
                      tq_err *e) {
  if (dims < 1 || dims > 3)
    return tq_fail(e, TQ_EINTERNAL, "%s: %d-D range (1 to 3 allowed)", what, dims);
  for (int i = 0; i < nargs; i++) {
    cl_int rc = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].ptr);
    if (rc != CL_SUCCESS)
      return tq_fail(e, TQ_ECL, "clSetKernelArg(%s, arg %d) failed with %s (%d)", what, i,
                     tq_cl_error_name(rc), rc);
  }
  size_t g[3];
  for (int d = 0; d < dims; d++) {
    if (global[d] == 0) return TQ_OK;
    g[d] = local ? (global[d] + local[d] - 1) / local[d] * local[d] : global[d];
  }
  cl_event ev = NULL;
  cl_int rc = clEnqueueNDRangeKernel(cl->queue, k, (cl_uint)dims, NULL, g, local, 0, NULL,
                                     cl->profiling ? &ev : NULL);
  if (rc != CL_SUCCESS)
    return tq_fail(e, rc == CL_OUT_OF_RESOURCES ? TQ_ENOMEM : TQ_ECL,
                   "clEnqueueNDRangeKernel(%s, %d-D, global %zu x %zu x %zu) failed with %s (%d)",
                   what, dims, g[0], dims > 1 ? g[1] : 1, dims > 2 ? g[2] : 1,
                   tq_cl_error_name(rc), rc);
  if (ev) tq_profile_add(cl, ev, what);
  return TQ_OK;
}

void tq_cl_local2(const tq_cl *cl, size_t n0, size_t n1, size_t local[3]) {
  size_t cap = cl->info.max_work_group && cl->info.max_work_group < 1024 ? cl->info.max_work_group
                                                                         : 1024;
  size_t l0 = (n0 + 15) / 16 * 16;
  if (l0 > cap) l0 = cap >= 256 ? 256 : cap;
  size_t l1 = 1;
  for (size_t d = cap / l0; d > 1; d--)
    if (n1 % d == 0) {
      l1 = d;
      break;
    }
  local[0] = l0;
  local[1] = l1;
  local[2] = 1;
}

void tq_cl_local_image(const tq_cl *cl, size_t w, size_t h, size_t n, size_t local[3]) {
  size_t cap = cl->info.max_work_group && cl->info.max_work_group < 1024 ? cl->info.max_work_group
                                                                         : 1024;
  size_t l0 = (w + 7) / 8 * 8;
  if (l0 > cap) l0 = cap;
  size_t l1 = 1, l2 = 1;
  for (size_t d = h; d >= 1; d--) /* a divisor of h: dimension 1 is not rounded */
    if (h % d == 0 && l0 * d <= cap) {
      l1 = d;
      break;
    }
  for (size_t d = cap / (l0 * l1); d > 1; d--)
    if (n % d == 0) {
      l2 = d;
      break;
    }
  local[0] = l0;
  local[1] = l1;
  local[2] = l2;
}
