/* The OpenCL runtime: device listing and selection, kernel build errors, and the shared
 * Philox generator (device against host, host against published known-answer vectors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl/kernel_constants.h"
#include "test_support.h"
#include "util/philox.h"

static void test_list_devices(void) {
  tq_err e = {0};
  tq_cl_devinfo d[TQ_MAX_DEVICES];
  int n = 0;
  TQ_ASSERT_OK(tq_cl_list_devices(d, TQ_MAX_DEVICES, &n, &e), &e);
  CU_ASSERT(n >= 1);
  for (int i = 0; i < n; i++) {
    CU_ASSERT(d[i].compute_units >= 1);
    CU_ASSERT(d[i].global_mem > 0);
    CU_ASSERT(strstr(d[i].c_version, "OpenCL C") != NULL);
  }
}

static void test_select_specs(void) {
  tq_err e = {0};
  tq_cl_devinfo a, b;
  TQ_ASSERT_OK(tq_cl_select_device("auto", &a, &e), &e);
  char pd[32];
  snprintf(pd, sizeof pd, "%d:%d", a.platform_index, a.device_index);
  TQ_ASSERT_OK(tq_cl_select_device(pd, &b, &e), &e);
  CU_ASSERT(a.device == b.device);
  /* A substring of the name, in another case, finds the same device. */
  char sub[8] = {0};
  for (int i = 0; i < 4 && a.name[i]; i++) sub[i] = (char)(a.name[i] ^ 0x20 * ((a.name[i] | 0x20) >= 'a' && (a.name[i] | 0x20) <= 'z'));
  TQ_ASSERT_OK(tq_cl_select_device(sub, &b, &e), &e);
  /* No match: bad input, and the message lists what exists. */
  tq_err e2 = {0};
  CU_ASSERT_EQUAL(tq_cl_select_device("no-such-device-xyz", &b, &e2), TQ_EINPUT);
  CU_ASSERT(strstr(e2.msg, "no-such-device-xyz") != NULL);
  CU_ASSERT(strstr(e2.msg, a.name) != NULL);
  tq_err e3 = {0};
  CU_ASSERT_EQUAL(tq_cl_select_device("97:3", &b, &e3), TQ_EINPUT);
}

static void test_philox_known_answers(void) {
  /* Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors). */
  const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                              {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                              {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
  const uint32_t key[3][2] = {{0, 0}, {0xffffffffu, 0xffffffffu}, {0xa4093822u, 0x299f31d0u}};
  const uint32_t want[3][4] = {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
                               {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
                               {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
  for (int t = 0; t < 3; t++) {
    uint32_t out[4];
    tq_philox4x32(ctr[t], key[t], out);
    for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(out[i], want[t][i]);
  }
}

static void test_philox_device_matches_host(void) {
  tq_cl *cl = tq_test_cl();
  tq_err e = {0};
  const cl_uint n = 10007, seed = 42, worker = 3, iter = 1234, tensor = 7, domain = 2;
  cl_mem buf;
  cl_kernel k;
  TQ_ASSERT_OK(tq_cl_alloc(cl, n * sizeof(cl_uint), &buf, &e), &e);
  TQ_ASSERT_OK(tq_cl_kernel(cl, "philox_fill", &k, &e), &e);
  tq_karg args[] = {TQ_ARG(buf), TQ_ARG(n), TQ_ARG(seed), TQ_ARG(worker), TQ_ARG(iter),
                    TQ_ARG(tensor), TQ_ARG(domain)};
  TQ_ASSERT_OK(tq_cl_run1d(cl, k, n, 64, args, "philox_fill", &e), &e);
  uint32_t *got = malloc(n * sizeof *got);
  TQ_ASSERT_OK(tq_cl_read(cl, buf, 0, n * sizeof *got, got, &e), &e);
  int bad = 0;
  for (cl_uint i = 0; i < n; i++) {
    uint32_t want = tq_rng_draw(seed, worker, iter, tensor, domain, i);
    if (got[i] != want && bad++ == 0)
      fprintf(stderr, "\n  first mismatch at element %u: device %08x, host %08x\n", i, got[i], want);
  }
  CU_ASSERT_EQUAL(bad, 0);
  free(got);
  clReleaseKernel(k);
  tq_cl_release(&buf);
}

static void test_unknown_kernel_is_named(void) {
  tq_cl *cl = tq_test_cl();
  tq_err e = {0};
  cl_kernel k = NULL;
  CU_ASSERT_EQUAL(tq_cl_kernel(cl, "no_such_kernel", &k, &e), TQ_ECL);
  CU_ASSERT(strstr(e.msg, "no_such_kernel") != NULL);
  CU_ASSERT(strstr(e.msg, "CL_INVALID_KERNEL_NAME") != NULL);
}

static void test_build_failure_gives_log(void) {
  /* A kernels folder holding a broken file: the error must carry the compiler's words. */
  char dir[] = "/tmp/tq_badkernels_XXXXXX";
  CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/broken.cl", dir);
  FILE *f = fopen(path, "w");
  CU_ASSERT_FATAL(f != NULL);
  fputs("__kernel void broken(__global float *x) { x[0] = undeclared_thing; }\n", f);
  fclose(f);
  setenv("TAILQUANT_KERNELS", dir, 1);
  tq_cl cl;
  tq_err e = {0};
  tq_status s = tq_cl_open(&cl, getenv("TQ_TEST_DEVICE") ? getenv("TQ_TEST_DEVICE") : "auto",
                           false, &e);
  unsetenv("TAILQUANT_KERNELS");
  CU_ASSERT_EQUAL(s, TQ_ECL);
  CU_ASSERT(strstr(e.msg, "undeclared_thing") != NULL);
  CU_ASSERT(strstr(e.msg, "broken.cl") != NULL);
  remove(path);
  rmdir(dir);
}

/* The kernels must build without a warning on the test device, for its profile: a user's first
 * run printed "64 warnings generated." before. A warm POCL cache skips the compiler and logs
 * nothing, so the suite's own cold cache (CI) is what gives this teeth. */
static void test_kernels_build_clean(void) {
  tq_cl *cl = tq_test_cl();
  if (cl->build_log) fprintf(stderr, "\n  build log on %s:\n%s\n", cl->info.name, cl->build_log);
  CU_ASSERT(cl->build_log == NULL || strstr(cl->build_log, "warning") == NULL);
}

/* The profile a device gets: its type's, or the one TAILQUANT_DEVICE_PROFILE names; an unknown
 * name is refused with the list. */
static void test_device_profile_chosen(void) {
  tq_cl *cl = tq_test_cl();
  CU_ASSERT_FATAL(cl->profile != NULL);
  const char *forced = getenv("TAILQUANT_DEVICE_PROFILE");
  const char *want = forced && forced[0] ? forced : strcmp(cl->info.type, "cpu") ? "gpu" : "cpu";
  CU_ASSERT_STRING_EQUAL(cl->profile->name, want);
  const tq_devprofile *p = NULL;
  tq_err e = {0};
  CU_ASSERT_EQUAL(tq_devprofile_choose("gpu", "fast", &p, &e), TQ_EINPUT);
  CU_ASSERT(strstr(e.msg, "fast") != NULL && strstr(e.msg, "cpu, gpu") != NULL);
}

/* Host and kernels share their constants through one list (host/cl/kernel_constants.h): the
 * build options carry every one with the host's value, and no kernel file defines one itself
 * (a copy there could drift from the host's). */
static void test_kernel_constants_one_source(void) {
  char defs[512];
  tq_cl_kernel_defines(defs, sizeof defs);
  char want[64];
  snprintf(want, sizeof want, " -DTQ_HIST_BINS=%d ", TQ_HIST_BINS);
  CU_ASSERT(strstr(defs, want) != NULL);
  snprintf(want, sizeof want, " -DTQ_MAX_LEVELS=%d ", TQ_MAX_LEVELS);
  CU_ASSERT(strstr(defs, want) != NULL);
  snprintf(want, sizeof want, " -DTQ_RNG_QUANTIZE=%d", (int)TQ_RNG_QUANTIZE);
  CU_ASSERT(strstr(defs, want) != NULL);
  char *src = NULL;
  tq_err e = {0};
  CU_ASSERT_FATAL(tq_cl_kernel_source(&src, &e) == TQ_OK);
  int n = 0;
  for (const char *const *name = tq_kernel_constant_names; *name; name++, n++) {
    snprintf(want, sizeof want, " -D%s=", *name);
    CU_ASSERT(strstr(defs, want) != NULL);
    char def[96];
    snprintf(def, sizeof def, "#define %s ", *name);
    if (strstr(src, def)) fprintf(stderr, "\n  a kernel file defines %s itself\n", *name);
    CU_ASSERT(strstr(src, def) == NULL);
    CU_ASSERT(strstr(src, *name) != NULL); /* listed only if a kernel uses it */
  }
  CU_ASSERT(n >= 9);
  free(src);
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"list devices", test_list_devices},
      {"select by auto, P:D, name, and no match", test_select_specs},
      {"philox known answers", test_philox_known_answers},
      {"philox device == host", test_philox_device_matches_host},
      {"unknown kernel named in error", test_unknown_kernel_is_named},
      {"build failure carries the build log", test_build_failure_gives_log},
      {"kernels build without warnings", test_kernels_build_clean},
      {"device profile from the device type", test_device_profile_chosen},
      {"host/kernel constants from one source", test_kernel_constants_one_source},
      {NULL, NULL}};
  tq_test_add_suite("opencl runtime", cases);
  return tq_test_run();
}
