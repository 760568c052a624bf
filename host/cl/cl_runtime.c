#include "cl/cl_runtime.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl_profile.h"
#include "cl/kernel_constants.h"
#include "cl/cl_tuning.h"
#include "util/fileio.h"
#include "util/text.h"

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
  info_string(d, CL_DRIVER_VERSION, di->driver, sizeof di->driver);
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
      if (tq_contains_ci(all[i].name, spec) || tq_contains_ci(all[i].platform_name, spec)) pick = i;
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

#define TQ_KC_NAME(n) #n,
const char *const tq_kernel_constant_names[] = {TQ_KERNEL_CONSTANTS(TQ_KC_NAME) NULL};

const char *tq_cl_kernel_defines(char *out, size_t cap) {
  /* Values as integers, so a constant defined by an expression still gives one token. */
#define TQ_KC_VALUE(n) (long long)(n),
  static const long long values[] = {TQ_KERNEL_CONSTANTS(TQ_KC_VALUE)};
  size_t used = 0;
  out[0] = '\0';
  for (size_t i = 0; i < sizeof values / sizeof values[0] && used < cap; i++) {
    int w = snprintf(out + used, cap - used, " -D%s=%lld", tq_kernel_constant_names[i], values[i]);
    used += w > 0 ? (size_t)w : 0;
  }
  return out;
}

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

/* The kernel file and line of physical line `line` of the concatenated source (which starts
 * every file with a #line marker): for compilers that report lines of the whole source. */
static bool source_location(const char *src, long line, char *file, size_t cap, long *fline) {
  long phys = 1, start = 0;
  file[0] = '\0';
  for (const char *p = src; *p && phys <= line; p++) {
    if (p == src || p[-1] == '\n') {
      const char *q = p;
      if (strncmp(q, "#line 1 \"", 9) == 0) {
        q += 9;
        size_t n = 0;
        while (q[n] && q[n] != '"' && n + 1 < cap) n++;
        memcpy(file, q, n);
        file[n] = '\0';
        start = phys; /* the marker's own line; the file's line 1 follows it */
      }
    }
    if (*p == '\n') phys++;
  }
  *fline = line - start;
  return file[0] != '\0' && line > start;
}

/* The build log with every "NAME:LINE:COL:" location that is not one of the kernel files
 * (Oclgrind reports "input.cl:LINE" of the whole source, ignoring #line) followed by the kernel
 * file and line it means. Caller frees; NULL when out of memory. */
static char *locate_log(const char *log, const char *src) {
  size_t cap = strlen(log) * 2 + 256, used = 0;
  char *out = malloc(cap);
  if (!out) return NULL;
  for (const char *p = log; *p;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);
    char name[256];
    long line = 0;
    int col = 0, n = 0;
    char file[256];
    long fline = 0;
    bool add = sscanf(p, "%255[^: \n]:%ld:%d:%n", name, &line, &col, &n) == 3 && n > 0 &&
               !strstr(src, name) && source_location(src, line, file, sizeof file, &fline);
    size_t need = len + (add ? strlen(file) + 64 : 0) + 1;
    if (used + need >= cap) {
      cap = (used + need) * 2;
      char *grown = realloc(out, cap);
      if (!grown) {
        free(out);
        return NULL;
      }
      out = grown;
    }
    if (add) used += (size_t)snprintf(out + used, cap - used, "%s:%ld:%d: ", file, fline, col);
    memcpy(out + used, p, len);
    used += len;
    p += len;
  }
  out[used] = '\0';
  return out;
}

static tq_status build_program(tq_cl *cl, tq_err *e) {
  char *src = NULL;
  TQ_TRY(tq_cl_kernel_source(&src, e));
  cl_int rc;
  const char *srcs[1] = {src};
  cl->program = clCreateProgramWithSource(cl->ctx, 1, srcs, NULL, &rc);
  if (rc != CL_SUCCESS) free(src);
  TQ_TRY(TQ_CL(rc, e));
  /* OpenCL C 1.2 is what every target (POCL 3, NVIDIA, AMD, Intel) accepts. */
  /* Correctly rounded float division and sqrt wherever the device offers them: the codecs
   * divide by scales and must match the C reference bit for bit, and OpenCL allows 2.5 ulp
   * otherwise (NVIDIA's default). Only valid where CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT is set. */
  cl_device_fp_config fp = 0;
  clGetDeviceInfo(cl->info.device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
  char opts[1024], defines[512];
  bool exact_div = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
  snprintf(opts, sizeof opts, "-cl-std=CL1.2%s%s %s",
           exact_div ? " -cl-fp32-correctly-rounded-divide-sqrt" : "",
           tq_cl_kernel_defines(defines, sizeof defines),
           cl->profile ? cl->profile->build_options : "");
  rc = clBuildProgram(cl->program, 1, &cl->info.device, opts, NULL, NULL);
  size_t loglen = 0;
  clGetProgramBuildInfo(cl->program, cl->info.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &loglen);
  char *raw = calloc(loglen + 1, 1);
  if (raw && loglen)
    clGetProgramBuildInfo(cl->program, cl->info.device, CL_PROGRAM_BUILD_LOG, loglen, raw, NULL);
  char *log = raw ? locate_log(raw, src) : NULL;
  free(raw);
  free(src);
  /* Drivers log a newline or two for a clean build. */
  bool said = false;
  for (const char *p = log; p && *p && !said; p++) said = !isspace((unsigned char)*p);
  if (rc != CL_SUCCESS) {
    /* The whole log goes to stderr; the message carries its start. */
    fprintf(stderr, "OpenCL build log for %s:\n%s\n", cl->info.name, log ? log : "(none)");
    tq_fail(e, TQ_ECL, "building the kernels for %s failed with %s; build log:\n%.1500s",
            cl->info.name, tq_cl_error_name(rc), log ? log : "(none)");
    free(log);
    return TQ_ECL;
  }
  if (said) cl->build_log = log;
  else free(log);
  return TQ_OK;
}

tq_status tq_cl_new_queue(const tq_cl *cl, cl_command_queue *out, tq_err *e) {
  cl_int rc;
  cl_command_queue_properties props = cl->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
  *out = clCreateCommandQueue(cl->ctx, cl->info.device, props, &rc);
  return TQ_CL(rc, e);
}

tq_status tq_cl_open_as(tq_cl *cl, const char *spec, const char *profile, bool profiling,
                        tq_err *e) {
  memset(cl, 0, sizeof *cl);
  cl->profiling = profiling;
  TQ_TRY(tq_cl_select_device(spec, &cl->info, e));
  TQ_TRY(tq_devprofile_choose(cl->info.type, profile, &cl->profile, e));
  cl->quirks = tq_cl_quirks_for(cl->info.platform_name);
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

tq_status tq_cl_open(tq_cl *cl, const char *spec, bool profiling, tq_err *e) {
  return tq_cl_open_as(cl, spec, NULL, profiling, e);
}

void tq_cl_close(tq_cl *cl) {
  if (cl->queue) {
    clFinish(cl->queue);
    clReleaseCommandQueue(cl->queue);
  }
  if (cl->program) clReleaseProgram(cl->program);
  if (cl->ctx) clReleaseContext(cl->ctx);
  free(cl->build_log);
  cl->build_log = NULL;
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

static tq_status set_args(cl_kernel k, const tq_karg *args, int nargs, const char *what,
                          tq_err *e) {
  for (int i = 0; i < nargs; i++) {
    cl_int rc = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].ptr);
    if (rc != CL_SUCCESS)
      return tq_fail(e, TQ_ECL, "clSetKernelArg(%s, arg %d) failed with %s (%d)", what, i,
                     tq_cl_error_name(rc), rc);
  }
  return TQ_OK;
}

/* The device's word on a launch of `items` work-items per group, asked after the arguments
 * are set (CL_KERNEL_LOCAL_MEM_SIZE then counts the __local arguments). */
tq_status tq_cl_check_fit(const tq_cl *cl, cl_kernel k, size_t items, const char *what,
                         tq_err *e) {
  size_t kmax = 0;
  cl_ulong lmem = 0;
  TQ_TRY(TQ_CL(clGetKernelWorkGroupInfo(k, cl->info.device, CL_KERNEL_WORK_GROUP_SIZE,
                                        sizeof kmax, &kmax, NULL), e));
  TQ_TRY(TQ_CL(clGetKernelWorkGroupInfo(k, cl->info.device, CL_KERNEL_LOCAL_MEM_SIZE,
                                        sizeof lmem, &lmem, NULL), e));
  if (items > kmax)
    return tq_fail(e, TQ_ECL,
                   "%s: a work-group of %zu items is more than %s allows for this kernel (%zu, "
                   "CL_KERNEL_WORK_GROUP_SIZE)", what, items, cl->info.name, kmax);
  if (lmem > cl->info.local_mem)
    return tq_fail(e, TQ_ECL,
                   "%s: needs %llu bytes of local memory per work-group; %s has %llu "
                   "(CL_DEVICE_LOCAL_MEM_SIZE)", what, (unsigned long long)lmem, cl->info.name,
                   (unsigned long long)cl->info.local_mem);
  return TQ_OK;
}

tq_status tq_cl_run1d_n(const tq_cl *cl, cl_kernel k, size_t global, size_t local,
                        const tq_karg *args, int nargs, const char *what, tq_err *e) {
  TQ_TRY(set_args(k, args, nargs, what, e));
  if (global == 0) return TQ_OK;
  if (local) TQ_TRY(tq_cl_check_fit(cl, k, local, what, e));
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

tq_status tq_cl_runnd_n(const tq_cl *cl, cl_kernel k, int dims, const size_t *global,
                        const size_t *local, const tq_karg *args, int nargs, const char *what,
                        tq_err *e) {
  if (dims < 1 || dims > 3)
    return tq_fail(e, TQ_EINTERNAL, "%s: %d-D range (1 to 3 allowed)", what, dims);
  TQ_TRY(set_args(k, args, nargs, what, e));
  size_t g[3], items = 1;
  for (int d = 0; d < dims; d++) {
    if (global[d] == 0) return TQ_OK;
    g[d] = local ? (global[d] + local[d] - 1) / local[d] * local[d] : global[d];
    if (local) items *= local[d];
  }
  if (local) TQ_TRY(tq_cl_check_fit(cl, k, items, what, e));
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

size_t tq_cl_group_cap(const tq_cl *cl, cl_kernel k) {
  size_t kmax = 0;
  if (clGetKernelWorkGroupInfo(k, cl->info.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax,
                               NULL) != CL_SUCCESS || kmax == 0)
    kmax = cl->info.max_work_group ? cl->info.max_work_group : 1;
  size_t cap = cl->profile && cl->profile->max_group ? cl->profile->max_group : 1024;
  return kmax < cap ? kmax : cap;
}

size_t tq_cl_lane_multiple(const tq_cl *cl, cl_kernel k) {
  if (cl->profile && cl->profile->lane_multiple) return cl->profile->lane_multiple;
  size_t m = 0;
  if (clGetKernelWorkGroupInfo(k, cl->info.device, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
                               sizeof m, &m, NULL) != CL_SUCCESS || m == 0)
    m = 1;
  return m;
}

/* x rounded down to a multiple of m, at least 1 (or x itself when m > x). */
static size_t floor_multiple(size_t x, size_t m) {
  if (m <= 1 || x < m) return x ? x : 1;
  return x / m * m;
}

size_t tq_cl_group1d(const tq_cl *cl, cl_kernel k, size_t want) {
  size_t cap = tq_cl_group_cap(cl, k);
  return floor_multiple(want < cap ? want : cap, tq_cl_lane_multiple(cl, k));
}

void tq_cl_local2(const tq_cl *cl, cl_kernel k, size_t n0, size_t n1, size_t local[3]) {
  size_t cap = tq_cl_group_cap(cl, k), lane = tq_cl_lane_multiple(cl, k);
  size_t l0 = (n0 + lane - 1) / lane * lane;
  if (l0 > cap) l0 = floor_multiple(cap >= 256 ? 256 : cap, lane);
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

void tq_cl_local_image(const tq_cl *cl, cl_kernel k, size_t w, size_t h, size_t n,
                       size_t local[3]) {
  size_t cap = tq_cl_group_cap(cl, k), lane = tq_cl_lane_multiple(cl, k);
  if (cl->profile && cl->profile->lane_multiple) lane = 8; /* CPU: rows of 8 lanes pack well */
  size_t l0 = (w + lane - 1) / lane * lane;
  if (l0 > cap) l0 = floor_multiple(cap, lane);
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
