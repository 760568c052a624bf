/* Workers split across two OpenCL platforms: POCL's CPU device and Oclgrind (a GPU-typed,
 * strict simulator), registered side by side (tests/CMakeLists.txt, the conformance label).
 * The same small run - 2 workers, 2 iterations - on "cpu,Oclgrind" must end with parameters
 * equal to the POCL-only run's within float tolerance (fp32 messages: the devices differ only
 * in rounding), and with the POCL-only run's loss within 1e-4 (TNQSGD at 3 bits), in process
 * and over MPI with one rank per device. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"
#include "tmpfile.h"

#define BIN TQ_BINARY_DIR "/tailquant"
#define CFG TQ_SOURCE_DIR "/config/default.cfg"
/* HWLOC_COMPONENTS=-opencl: Open MPI's hwloc otherwise asks every OpenCL device for vendor
 * attributes (AMD's, NVIDIA's PCI ids), which Oclgrind's API check reports as CL_INVALID_VALUE
 * from clGetDeviceInfo; tailquant itself asks only standard ones. */
#define MPIRUN                                                                                     \
  "HWLOC_COMPONENTS=-opencl OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 900 " \
  "mpirun --oversubscribe -x HWLOC_COMPONENTS "                                                    \
  "-np 2 -x POCL_MAX_PTHREAD_COUNT=1 -x LSAN_OPTIONS=detect_leaks=0 -x OCL_ICD_VENDORS "          \
  "-x OCLGRIND_LOCAL_MEM_SIZE -x OCLGRIND_MAX_WGSIZE -x OCLGRIND_DATA_RACES -x OCLGRIND_CHECK_API "
/* tiny_cnn (1,826 parameters, 12 x 12 images written by write_idx), 2 workers x batch 8, 2
 * iterations, a checkpoint at the end. */
#define RUN                                                                                        \
  "--quiet --set model.file=" TQ_SOURCE_DIR "/tests/models/tiny_cnn.cfg "                         \
  "--set workers.count=2 --set train.batch_size=8 --set train.iterations=2 "                      \
  "--set train.eval_every=0 --set checkpoint.every=2 --set metrics.quant_mse=false "
#define NPARAMS 1826

static char out[1 << 16], dir[64], data_args[1024];

static void put_be32(FILE *f, uint32_t v) {
  unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                        (unsigned char)v};
  fwrite(b, 1, 4, f);
}

/* MNIST-format IDX files of n random 12 x 12 images and their labels in dir/NAME-*. */
static int write_idx(const char *name, uint32_t n, uint64_t seed) {
  char path[256];
  tq_test_rng r = {seed};
  snprintf(path, sizeof path, "%s/%s-images", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  put_be32(f, 0x00000803);
  put_be32(f, n);
  put_be32(f, 12);
  put_be32(f, 12);
  for (uint32_t i = 0; i < n * 144; i++) fputc((int)(tq_test_uniform(&r) * 256), f);
  fclose(f);
  snprintf(path, sizeof path, "%s/%s-labels", dir, name);
  f = fopen(path, "wb");
  if (!f) return -1;
  put_be32(f, 0x00000801);
  put_be32(f, n);
  for (uint32_t i = 0; i < n; i++) fputc((int)(i % 10), f);
  return fclose(f);
}

static void run_ok(const char *prefix, const char *name, const char *devices, const char *method,
                   const char *extra) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "%s" BIN " train " CFG " " RUN "%s --set output.dir=%s --set experiment.name=%s "
           "--set workers.devices=%s --set compression.method=%s %s",
           prefix, data_args, dir, name, devices, method, extra);
  int rc = tq_test_run_cmd(cmd, out, sizeof out);
  /* Always shown: an Oclgrind report from the child must reach ctest's output check. */
  fprintf(stderr, "\n  %s: exit %d\n%s", name, rc, out);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
}

/* The POCL-only reference runs, made once whichever case needs them first. */
static void reference(const char *name, const char *method) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s/checkpoint.bin", dir, name);
  if (access(path, R_OK) != 0) run_ok("", name, "cpu", method, "");
}

/* The loss column of the last row of RUN/metrics.csv. */
static double last_loss(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s/metrics.csv", dir, name);
  FILE *f = fopen(path, "r");
  CU_ASSERT_FATAL(f != NULL);
  static char text[1 << 16];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  int col = -1, c = 0;
  for (char *p = text; *p && *p != '\n'; p++) {
    if (p == text || p[-1] == ',') {
      if (strncmp(p, "loss,", 5) == 0 || strncmp(p, "loss\n", 5) == 0) col = c;
      c++;
    }
  }
  CU_ASSERT_FATAL(col >= 0);
  char *last = NULL;
  for (char *p = strchr(text, '\n'); p && p[1]; p = strchr(p + 1, '\n')) last = p + 1;
  CU_ASSERT_FATAL(last != NULL);
  for (int k = 0; k < col; k++) last = strchr(last, ',') + 1;
  return atof(last);
}

static void params_of(const char *name, float *p) {
  static char buf[1 << 21];
  char path[512];
  snprintf(path, sizeof path, "%s/%s/checkpoint.bin", dir, name);
  size_t n = tq_test_checkpoint_state(path, buf, sizeof buf);
  CU_ASSERT_FATAL(n >= NPARAMS * sizeof(float));
  memcpy(p, buf, NPARAMS * sizeof(float));
}

static double normwise(const float *a, const float *b) {
  double d = 0, s = 0;
  for (int i = 0; i < NPARAMS; i++) {
    d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    s += (double)b[i] * b[i];
  }
  return sqrt(d / s);
}

static void test_fp32_params_match(void) {
  static float a[NPARAMS], b[NPARAMS];
  reference("pocl_fp32", "none");
  run_ok("", "het_fp32", "cpu,Oclgrind", "none", "");
  params_of("pocl_fp32", a);
  params_of("het_fp32", b);
  double d = normwise(b, a);
  printf("\n  fp32, cpu,Oclgrind vs cpu: normwise parameter difference %.3g\n", d);
  CU_ASSERT(d < 1e-5);
}

static void test_tnqsgd_loss_matches(void) {
  reference("pocl_tnq", "tnqsgd");
  run_ok("", "het_tnq", "cpu,Oclgrind", "tnqsgd", "");
  double a = last_loss("pocl_tnq"), b = last_loss("het_tnq");
  printf("\n  tnqsgd 3 bits, loss at iteration 2: cpu %.7f, cpu,Oclgrind %.7f\n", a, b);
  CU_ASSERT(fabs(a - b) <= 1e-4);
}

static void test_mpi_rank_per_device(void) {
  static float a[NPARAMS], b[NPARAMS];
  /* worker w runs on rank w mod 2 and device w mod 2: rank 0 on POCL, rank 1 on Oclgrind */
  reference("pocl_fp32", "none");
  reference("pocl_tnq", "tnqsgd");
  run_ok(MPIRUN, "mpi_het_fp32", "cpu,Oclgrind", "none", "--transport mpi");
  params_of("pocl_fp32", a);
  params_of("mpi_het_fp32", b);
  double d = normwise(b, a);
  printf("\n  fp32 over MPI, rank 0 on cpu, rank 1 on Oclgrind, vs in-process cpu: %.3g\n", d);
  CU_ASSERT(d < 1e-5);
  run_ok(MPIRUN, "mpi_het_tnq", "cpu,Oclgrind", "tnqsgd", "--transport mpi");
  double la = last_loss("pocl_tnq"), lb = last_loss("mpi_het_tnq");
  printf("  tnqsgd over MPI: loss %.7f vs %.7f\n", lb, la);
  CU_ASSERT(fabs(la - lb) <= 1e-4);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/tq_het_XXXXXX");
  if (!mkdtemp(dir)) return 1;
  if (write_idx("train", 64, 11) || write_idx("test", 32, 12)) {
    fprintf(stderr, "cannot write the test data in %s\n", dir);
    return 1;
  }
  snprintf(data_args, sizeof data_args,
           "--set data.train_images=%s/train-images --set data.train_labels=%s/train-labels "
           "--set data.test_images=%s/test-images --set data.test_labels=%s/test-labels",
           dir, dir, dir, dir);
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cases[] = {
      {"fp32: cpu,Oclgrind parameters == cpu parameters", test_fp32_params_match},
      {"tnqsgd: cpu,Oclgrind loss == cpu loss", test_tnqsgd_loss_matches},
      {"MPI, one rank per device", test_mpi_rank_per_device},
      {NULL, NULL}};
  tq_test_add_suite("heterogeneous", cases);
  int rc = tq_test_run();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return rc;
}
