#include "cl/cl_devprofile.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "util/text.h"

/* The profiles. The cpu figures were measured on POCL (docs/performance.md); the gpu ones
 * follow the vendors' documented practice (NVIDIA's and AMD's OpenCL optimisation guides:
 * groups of whole warps/wavefronts, 256 items, local atomics for histograms, vendor-tuned BLAS)
 * and have not been measured here: no GPU was available (docs/performance.md says so). */
static const tq_devprofile profiles[] = {
    {.name = "cpu",
     .summary = "POCL-shaped: lane-private histogram, vector statistics pass, own GEMM kernels, "
                "groups in multiples of 16 lanes",
     .hist = TQ_HIST_PRIVATE_COUNTS,
     .vector_stats = true,
     .hist_group = 128,
     .own_gemms = true,
     .lane_multiple = 16,
     .max_group = 1024,
     .build_options = "-DTQ_UNROLL_HINTS"},
    {.name = "gpu",
     .summary = "warp-shaped: local-atomic histogram, CLBlast for every GEMM, groups in multiples "
                "of the kernel's preferred size (warp/wavefront), at most 256",
     .hist = TQ_HIST_LOCAL_ATOMICS,
     .vector_stats = false,
     .hist_group = 256,
     .own_gemms = false,
     .lane_multiple = 0,
     .max_group = 256,
     .build_options = ""},
};
#define NPROFILES (sizeof profiles / sizeof profiles[0])

const tq_devprofile *tq_devprofile_find(const char *name) {
  for (size_t i = 0; name && i < NPROFILES; i++)
    if (strcmp(profiles[i].name, name) == 0) return &profiles[i];
  return NULL;
}

const char *tq_devprofile_names(void) { return "cpu, gpu"; }

tq_status tq_devprofile_choose(const char *type, const char *choice, const tq_devprofile **out,
                               tq_err *e) {
  const char *from = "device.profile";
  if (!choice || !choice[0]) {
    choice = getenv("TAILQUANT_DEVICE_PROFILE");
    from = "TAILQUANT_DEVICE_PROFILE";
    if (!choice || !choice[0]) choice = "auto";
  }
  if (strcmp(choice, "auto") == 0) {
    *out = tq_devprofile_find(type && strcmp(type, "cpu") == 0 ? "cpu" : "gpu");
    return TQ_OK;
  }
  *out = tq_devprofile_find(choice);
  if (!*out)
    return tq_fail(e, TQ_EINPUT, "%s: unknown device profile '%s' (use auto, %s)", from, choice,
                   tq_devprofile_names());
  return TQ_OK;
}

static const struct {
  const char *platform;
  tq_cl_quirks quirks;
} quirks[] = {
    {"Oclgrind", {.one_thread_at_a_time = true}},
};

tq_cl_quirks tq_cl_quirks_for(const char *platform_name) {
  tq_cl_quirks q = {0};
  for (size_t i = 0; platform_name && i < sizeof quirks / sizeof quirks[0]; i++)
    if (tq_contains_ci(platform_name, quirks[i].platform)) q = quirks[i].quirks;
  return q;
}
