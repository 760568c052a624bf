/* Hostile input, second round (issue 16): every class of bad input that once wrapped, cut,
 * matched loosely, hung, overwrote or resumed silently, as a table of cases run through the real
 * binary. Each case: files to write, the command, the exit code, what stderr must say, and then
 * that no complete-looking result (summary.json) was left anywhere in the case's folder.
 * A few cases need a real (tiny, synthetic-data) run: two processes on one folder, an edited
 * config.cfg or a cut metrics file on --resume, a cut checkpoint, and Ctrl-C. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "experiment/config.h"
#include "test_support.h"

#define BIN TQ_BINARY_DIR "/tailquant"
#define LENET TQ_SOURCE_DIR "/models/lenet5.cfg"

static char root[256], tmp[320];

/* Each test works in its own folder under root. */
static void enter(const char *name) {
  snprintf(tmp, sizeof tmp, "%s/%s", root, name);
  mkdir(tmp, 0755);
}
static char out[1 << 16];

static void write_file(const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  FILE *f = fopen(path, "w");
  CU_ASSERT_FATAL(f != NULL);
  fputs(text, f);
  fclose(f);
}

static void write_idx(const char *name, int n, int images, uint32_t seed) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  FILE *f = fopen(path, "wb");
  CU_ASSERT_FATAL(f != NULL);
  unsigned char h[16] = {0, 0, 8, (unsigned char)(images ? 3 : 1)};
  h[4] = (unsigned char)(n >> 24), h[5] = (unsigned char)(n >> 16), h[6] = (unsigned char)(n >> 8),
  h[7] = (unsigned char)n;
  if (images) h[11] = 28, h[15] = 28;
  fwrite(h, 1, images ? 16 : 8, f);
  for (long i = 0; i < (long)n * (images ? 784 : 1); i++) {
    seed = seed * 1664525u + 1013904223u;
    fputc(images ? (int)(seed >> 24) : (int)((seed >> 24) % 10), f);
  }
  fclose(f);
}

/* Runs "cd tmp && BIN args" with a time limit; stdout+stderr in out; returns the exit code
 * (124: the limit, i.e. it hung). */
static int run(const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "cd %s && timeout 120 %s %s 2>&1", tmp, BIN, args);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool exists(const char *rel) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp, rel);
  return access(path, F_OK) == 0;
}

static int count_summaries(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "find %s -name summary.json | wc -l", tmp);
  FILE *p = popen(cmd, "r");
  int n = -1;
  if (p && fscanf(p, "%d", &n) != 1) n = -1;
  if (p) pclose(p);
  return n;
}

/* The experiment every case builds on: tiny synthetic data, LeNet-5, one worker, fp32. */
static void write_base(void) {
  write_idx("train-img", 64, 1, 1);
  write_idx("train-lbl", 64, 0, 2);
  write_idx("test-img", 16, 1, 3);
  write_idx("test-lbl", 16, 0, 4);
  char text[2048];
  snprintf(text, sizeof text,
           "data = { train_images = \"train-img\"; train_labels = \"train-lbl\";\n"
           "         test_images = \"test-img\"; test_labels = \"test-lbl\"; };\n"
           "model = { file = \"%s\"; };\n"
           "train = { batch_size = 8; iterations = 4; eval_every = 0; };\n"
           "output = { dir = \"%s/runs\"; };\n"
           "experiment = { name = \"base\"; };\n",
           LENET, tmp);
  write_file("base.cfg", text);
}

typedef struct hostile_case {
  const char *what;   /* the class and the example */
  const char *file;   /* written as case.cfg after `@include "base.cfg"` (NULL: none) */
  const char *args;   /* the command line after the binary */
  int code;           /* expected exit code */
  const char *needle, *needle2; /* must appear in the output (NULL: no check) */
  const char *absent; /* must not appear */
} hostile_case;

static const hostile_case cases[] = {
    /* 1. integers beyond 32 bits are refused as written, never wrapped */
    {"int: batch_size 2^32+16", "train = { batch_size = 4294967312; };\n", "train case.cfg", 2,
     "4294967312", "train.batch_size", NULL},
    {"int: workers.count 2^32+2", "workers = { count = 4294967298; };\n", "train case.cfg", 2,
     "4294967298", "out of range", NULL},
    {"int: 10^12 shown as written", "train = { batch_size = 1000000000000; };\n",
     "train case.cfg", 2, "1000000000000", NULL, "-727379968"},
    {"int: negative beyond 32 bits", "experiment = { seed = -4294967296; };\n", "train case.cfg",
     2, "-4294967296", NULL, NULL},
    {"int: hex beyond 31 bits", "train = { iterations = 0x100000004; };\n", "train case.cfg", 2,
     "0x100000004", NULL, NULL},
    {"int: 64-bit literal out of range", "train = { batch_size = 4294967312L; };\n",
     "train case.cfg", 2, "4294967312", "out of range", NULL},
    {"int: beyond 64 bits", "train = { batch_size = 99999999999999999999L; };\n",
     "train case.cfg", 2, "99999999999999999999", NULL, NULL},
    {"int: --set beyond 64 bits", NULL, "train base.cfg --set train.batch_size=99999999999999999999",
     2, "not an integer", NULL, NULL},
    {"int: --set beyond 32 bits", NULL, "train base.cfg --set workers.count=4294967298", 2,
     "4294967298", "out of range", NULL},
    {"int: a model's filters 2^32+6", "model = { file = \"big.cfg\"; };\n", "train case.cfg", 2,
     "4294967302", "big.cfg:", NULL},
    {"int: a sweep value 2^32+16",
     "sweep = ( { key = \"train.batch_size\"; values = [ 16, 4294967312 ]; } );\n",
     "train case.cfg", 2, "4294967312", NULL, NULL},
    /* 2. strings are refused past their limit, never cut */
    {"string: experiment.name of 300", NULL, "train base.cfg --set experiment.name=@300", 2,
     "experiment.name", "limit is 255", NULL},
    {"string: workers.devices of 1100", NULL, "train base.cfg --set workers.devices=@1100", 2,
     "workers.devices", "limit is 1023", NULL},
    {"string: device.spec of 300", NULL, "train base.cfg --set device.spec=@300", 2,
     "device.spec", "limit is 255", NULL},
    {"string: a sweep value of 300", "sweep = ( { key = \"device.spec\"; values = [ \"@300\" ]; } );\n",
     "train case.cfg", 2, "limit is 255", NULL, NULL},
    /* 3. choices are matched exactly */
    {"choice: normalize auto|given", NULL, "train base.cfg --set 'data.normalize=auto|given'", 2,
     "data.normalize", "is not one of", NULL},
    {"choice: lr_schedule step|cosine", NULL, "train base.cfg --set 'train.lr_schedule=step|cosine'",
     2, "train.lr_schedule", "is not one of", NULL},
    {"choice: partition iid|label_skew", NULL,
     "train base.cfg --set 'workers.partition=iid|label_skew'", 2, "workers.partition", NULL, NULL},
    {"choice: method with a space", NULL, "train base.cfg --set 'compression.method=qsgd '", 2,
     "compression.method", NULL, NULL},
    {"choice: on_missing prefix", NULL, "train base.cfg --set workers.on_missing=sto", 2,
     "workers.on_missing", NULL, NULL},
    {"choice: corrupt empty", NULL, "train base.cfg --set faults.corrupt=", 2, "faults.corrupt",
     NULL, NULL},
    /* 4. only regular files, with bounded reads */
    {"read: train /dev/zero", NULL, "train /dev/zero", 2, "not a regular file", NULL, NULL},
    {"read: model.file /dev/zero", NULL, "train base.cfg --set model.file=/dev/zero", 2,
     "not a regular file", NULL, NULL},
    {"read: quantize /dev/zero", NULL, "quantize --method qsgd --bits 3 /dev/zero", 2,
     "not a regular file", NULL, NULL},
    {"read: a FIFO as data.train_images", NULL, "train base.cfg --set data.train_images=fifo", 2,
     "FIFO", "data.train_images", NULL},
    {"read: a directory as the experiment", NULL, "train /tmp", 2, "directory", NULL,
     "I/O error"},
    {"read: a directory as model.file", NULL, "train base.cfg --set model.file=/tmp", 2,
     "directory", NULL, NULL},
    {"read: @include /dev/zero", "@include \"/dev/zero\"\n", "train case.cfg", 2,
     "not a regular file", "case.cfg:2", NULL},
    {"read: a huge experiment file", NULL, "train huge.cfg", 2, "limit", NULL, NULL},
    {"read: a huge quantize input", NULL, "quantize --method qsgd --bits 3 sparse.f32", 2,
     "limit", NULL, NULL},
    /* 5. one folder, one run */
    {"folder: duplicate sweep values",
     "sweep = ( { key = \"compression.method\"; values = [ \"qsgd\", \"qsgd\" ]; } );\n",
     "train case.cfg", 2, "twice", NULL, NULL},
    {"folder: a completed run is not replaced", NULL, "train base.cfg --set experiment.name=done",
     2, "completed run", "--force", NULL},
    {"folder: a stopped run is not restarted", NULL, "train base.cfg --set experiment.name=stopped",
     2, "--resume", "--force", NULL},
    {"folder: a sweep refuses a completed variant before training any",
     "sweep = ( { key = \"compression.method\"; values = [ \"none\", \"qsgd\" ]; } );\n"
     "experiment = { name = \"sw\"; };\n",
     "train case.cfg", 2, "method-qsgd", "completed run", NULL},
    /* 8. messages that say why */
    {"msg: duplicate key named", "train = { lr = 0.1;\n lr = 0.2; };\n", "train case.cfg", 2,
     "train.lr", "twice", "duplicate setting name"},
    {"msg: self-include", "@include \"case.cfg\"\n", "train case.cfg", 2, "itself", NULL, NULL},
    {"msg: no (--set) without --set", "data = { normalize = \"x\"; };\n", "train case.cfg", 2,
     "case.cfg:2", NULL, "(--set)"},
    {"msg: cannot create says why", NULL, "train base.cfg --set output.dir=/dev/null/x", 1,
     "Not a directory", NULL, NULL},
    {"msg: fault plan names a missing worker", NULL,
     "train base.cfg --set workers.count=2 --set faults.crash_worker=5", 2,
     "faults.crash_worker", "does not have", NULL},
    {"msg: fault past the last iteration", NULL,
     "train base.cfg --set faults.nan_worker=0 --set faults.nan_iteration=99", 2,
     "faults.nan_iteration", NULL, NULL},
    {"msg: --dump-gradients past the end", NULL, "train base.cfg --dump-gradients 99", 2,
     "--dump-gradients 99", "4 iterations", NULL},
    {"msg: a sweep's second variant's model is checked first",
     "sweep = ( { key = \"model.file\"; values = [ \"" LENET "\", \"nonexistent.cfg\" ]; } );\n",
     "train case.cfg", 2, "nonexistent.cfg", NULL, "iter "},
    /* issue 18: overrides that compose */
    {"set: a swept key", "sweep = ( { key = \"train.lr\"; values = [ 0.1, 0.2 ]; } );\n",
     "train case.cfg --set train.lr=0.5", 2, "is swept by", "case.cfg:2", NULL},
};

/* "@N" in args or file text: N copies of 'a'. */
static void expand(const char *in, char *dst, size_t cap) {
  size_t n = 0;
  for (const char *p = in; *p && n + 1 < cap;) {
    if (*p == '@' && p[1] >= '0' && p[1] <= '9') {
      char *end;
      long k = strtol(p + 1, &end, 10);
      for (long i = 0; i < k && n + 1 < cap; i++) dst[n++] = 'a';
      p = end;
    } else
      dst[n++] = *p++;
  }
  dst[n] = '\0';
}

static void prepare(void) {
  write_base();
  write_file("big.cfg", "name = \"big\";\ninput = { channels = 1; height = 28; width = 28; };\n"
                        "classes = 10;\nlayers = ( { type = \"conv2d\"; filters = 4294967302; size = 5; },\n"
                        "  { type = \"flatten\"; }, { type = \"dense\"; units = 10; } );\n");
  char path[512];
  snprintf(path, sizeof path, "%s/fifo", tmp);
  CU_ASSERT(mkfifo(path, 0600) == 0);
  /* an experiment file over the 1 MiB bound, and a sparse 1 GiB float file */
  snprintf(path, sizeof path, "%s/huge.cfg", tmp);
  FILE *f = fopen(path, "w");
  for (int i = 0; f && i < 80000; i++) fprintf(f, "# padding line %06d\n", i);
  if (f) fclose(f);
  snprintf(path, sizeof path, "%s/sparse.f32", tmp);
  int fd = open(path, O_CREAT | O_WRONLY, 0644);
  CU_ASSERT(fd >= 0 && ftruncate(fd, (off_t)1 << 30) == 0);
  close(fd);
  /* a completed run and a stopped one, as far as their folders show */
  snprintf(path, sizeof path, "mkdir -p %s/runs/done %s/runs/stopped %s/runs/sw/method-qsgd && "
           "echo '{\"status\": \"complete\"}' > %s/runs/done/summary.json && "
           "echo x > %s/runs/stopped/checkpoint.bin && "
           "echo '{\"status\": \"complete\"}' > %s/runs/sw/method-qsgd/summary.json",
           tmp, tmp, tmp, tmp, tmp, tmp);
  CU_ASSERT(system(path) == 0);
}

static void test_table(void) {
  enter("table");
  prepare();
  const int planted = 2; /* the completed runs prepare() wrote */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const hostile_case *c = &cases[i];
    char args[8192], text[8192];
    if (c->file) {
      expand(c->file, text, sizeof text);
      char full[9000];
      snprintf(full, sizeof full, "@include \"base.cfg\"\n%s", text);
      write_file("case.cfg", full);
    }
    expand(c->args, args, sizeof args);
    int rc = run(args);
    bool ok = rc == c->code && (!c->needle || strstr(out, c->needle)) &&
              (!c->needle2 || strstr(out, c->needle2)) && (!c->absent || !strstr(out, c->absent));
    int sums = count_summaries();
    if (!ok || sums != planted)
      fprintf(stderr, "\n  case '%s': exit %d (want %d), %d summaries (want %d):\n  %.1500s\n",
              c->what, rc, c->code, sums, planted, out);
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(sums, planted);
  }
}

/* Loader-level checks of composition (issue 18) and injective sweep names. */
static void test_compose_and_names(void) {
  enter("compose");
  write_base();
  tq_err e = {0};
  static tq_experiment x;
  mkdir(strcat(strcpy((char[300]){0}, tmp), "/sub"), 0755);
  write_file("sub/inner.cfg", "train = { lr = 0.1; momentum = 0.5; };\nmodel = { file = \"m.cfg\"; };\n");
  write_file("outer.cfg", "@include \"sub/inner.cfg\"\ntrain = { lr = 0.2; };\n");
  char path[512], want[600];
  snprintf(path, sizeof path, "%s/outer.cfg", tmp);
  TQ_ASSERT_OK(tq_experiment_load(path, NULL, 0, &x, &e), &e);
  CU_ASSERT_DOUBLE_EQUAL(x.lr, 0.2, 0);       /* the including file wins */
  CU_ASSERT_DOUBLE_EQUAL(x.momentum, 0.5, 0); /* what it does not set comes from the include */
  snprintf(want, sizeof want, "%s/sub/m.cfg", tmp); /* relative to the file that names it */
  CU_ASSERT_STRING_EQUAL(x.model_file, want);
  const char *sets[] = {"train.lr=0.3", "model.file=rel.cfg"};
  char cwd[512];
  CU_ASSERT_FATAL(getcwd(cwd, sizeof cwd) != NULL);
  CU_ASSERT_FATAL(chdir(tmp) == 0);
  TQ_ASSERT_OK(tq_experiment_load(path, sets, 2, &x, &e), &e);
  CU_ASSERT_FATAL(chdir(cwd) == 0);
  CU_ASSERT_DOUBLE_EQUAL(x.lr, 0.3, 0); /* --set wins over both */
  snprintf(want, sizeof want, "%s/rel.cfg", tmp); /* --set paths: the working directory */
  CU_ASSERT_STRING_EQUAL(x.model_file, want);
  /* checkpoint.every has a non-zero default, a multiple of refit_every */
  CU_ASSERT_EQUAL(x.checkpoint_every, 100);
  const char *r3[] = {"compression.refit_every=3"};
  TQ_ASSERT_OK(tq_experiment_load(path, r3, 1, &x, &e), &e);
  CU_ASSERT_EQUAL(x.checkpoint_every, 102);
  /* injective sweep folder names */
  write_file("names.cfg", "sweep = ( { key = \"device.spec\"; values = [ \"ok_img\", \"ok+img\", "
                          "\"ok%2Bimg\", \"a/b\" ]; } );\n");
  snprintf(path, sizeof path, "%s/names.cfg", tmp);
  static tq_sweep sw;
  TQ_ASSERT_OK(tq_sweep_load(path, &sw, &e), &e);
  CU_ASSERT_EQUAL_FATAL(sw.nvariants, 4);
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < a; b++) CU_ASSERT(strcmp(sw.name[a], sw.name[b]) != 0);
  for (int a = 0; a < 4; a++) CU_ASSERT(strchr(sw.name[a], '/') == NULL);
}

/* A real stopped run: its folder cannot be taken by a second process, an edited config.cfg or
 * a cut metrics file or checkpoint is refused on --resume with the reason, and the run still
 * resumes to completion once restored. */
static void test_resume_and_lock(void) {
  enter("resume");
  write_base();
  CU_ASSERT_EQUAL_FATAL(run("train base.cfg --quiet --set experiment.name=r --set "
                            "train.iterations=6 --set checkpoint.every=2 --stop-after 2"), 0);
  char dir[300], path[400], cmd[1200];
  snprintf(dir, sizeof dir, "%s/runs/r", tmp);
  snprintf(path, sizeof path, "%s/.lock", dir);
  /* another process holds the folder: both a new run and a resume are refused */
  int fd = open(path, O_RDWR);
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT_FATAL(flock(fd, LOCK_EX | LOCK_NB) == 0);
  snprintf(cmd, sizeof cmd, "train --resume %s", dir);
  CU_ASSERT_EQUAL(run(cmd), 2);
  CU_ASSERT(strstr(out, "another tailquant process") != NULL);
  CU_ASSERT_EQUAL(run("train base.cfg --set experiment.name=r --force"), 2);
  CU_ASSERT(strstr(out, "another tailquant process") != NULL);
  close(fd);
  /* an edited config.cfg: the changed key is named */
  snprintf(cmd, sizeof cmd, "cp %s/config.cfg %s/keep.cfg && sed -i 's/method = \"none\"/method = "
           "\"qsgd\"/; s/bits = 3;/bits = 4;/' %s/config.cfg", dir, tmp, dir);
  CU_ASSERT_FATAL(system(cmd) == 0);
  snprintf(cmd, sizeof cmd, "train --resume %s", dir);
  CU_ASSERT_EQUAL(run(cmd), 2);
  CU_ASSERT(strstr(out, "compression.method") != NULL && strstr(out, "qsgd") != NULL);
  snprintf(cmd, sizeof cmd, "cp %s/keep.cfg %s/config.cfg && sed -i 's/batch_size = 8;/batch_size "
           "= 9;/' %s/config.cfg", tmp, dir, dir);
  CU_ASSERT_FATAL(system(cmd) == 0);
  snprintf(cmd, sizeof cmd, "train --resume %s", dir);
  CU_ASSERT_EQUAL(run(cmd), 2);
  CU_ASSERT(strstr(out, "train.batch_size") != NULL);
  snprintf(cmd, sizeof cmd, "cp %s/keep.cfg %s/config.cfg", tmp, dir);
  CU_ASSERT_FATAL(system(cmd) == 0);
  /* a cut metrics file is an error, never padded */
  snprintf(cmd, sizeof cmd, "cp %s/metrics.csv.partial %s/keep.csv && truncate -s 100 "
           "%s/metrics.csv.partial", dir, tmp, dir);
  CU_ASSERT_FATAL(system(cmd) == 0);
  snprintf(cmd, sizeof cmd, "train --resume %s", dir);
  CU_ASSERT_EQUAL(run(cmd), 2);
  CU_ASSERT(strstr(out, "shorter") != NULL);
  snprintf(cmd, sizeof cmd, "cp %s/keep.csv %s/metrics.csv.partial", tmp, dir);
  CU_ASSERT_FATAL(system(cmd) == 0);
  /* a cut checkpoint: truncated, with both sizes */
  snprintf(cmd, sizeof cmd, "cp %s/checkpoint.bin %s/keep.bin && truncate -s 1000 %s/checkpoint.bin",
           dir, tmp, dir);
  CU_ASSERT_FATAL(system(cmd) == 0);
  snprintf(cmd, sizeof cmd, "train --resume %s", dir);
  CU_ASSERT_EQUAL(run(cmd), 2);
  CU_ASSERT(strstr(out, "truncated") != NULL && strstr(out, "1000 bytes") != NULL);
  CU_ASSERT(count_summaries() == 0);
  snprintf(cmd, sizeof cmd, "cp %s/keep.bin %s/checkpoint.bin", tmp, dir);
  CU_ASSERT_FATAL(system(cmd) == 0);
  /* restored: it resumes and completes; then the folder is a completed run */
  snprintf(cmd, sizeof cmd, "train --resume %s --quiet", dir);
  int rc = run(cmd);
  if (rc) fprintf(stderr, "\n  %s\n", out);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT(count_summaries() == 1);
  CU_ASSERT_EQUAL(run("train base.cfg --set experiment.name=r"), 2);
  CU_ASSERT(strstr(out, "completed run") != NULL);
  CU_ASSERT_EQUAL(run("train base.cfg --quiet --set experiment.name=r --force"), 0);
}

/* Ctrl-C: the step finishes, a checkpoint is written, the --resume command is printed, exit
 * 130; the run then resumes to completion. */
static void test_sigint(void) {
  enter("sigint");
  write_base();
  char cmd[1200], log[400], dir[300];
  snprintf(dir, sizeof dir, "%s/runs/int", tmp);
  snprintf(log, sizeof log, "%s/int.log", tmp);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    if (chdir(tmp) != 0) _exit(99);
    execl(BIN, BIN, "train", "base.cfg", "--quiet", "--set", "experiment.name=int", "--set",
          "train.iterations=100000", "--set", "checkpoint.every=0", (char *)NULL);
    _exit(98);
  }
  CU_ASSERT_FATAL(pid > 0);
  /* wait until a few rows are written */
  char partial[400];
  snprintf(partial, sizeof partial, "%s/metrics.csv.partial", dir);
  for (int i = 0; i < 1200; i++) {
    struct stat st;
    if (stat(partial, &st) == 0 && st.st_size > 2000) break;
    nanosleep(&(struct timespec){0, 50000000}, NULL);
  }
  kill(pid, SIGINT);
  int st = 0;
  waitpid(pid, &st, 0);
  CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 130);
  FILE *f = fopen(log, "r");
  size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
  out[n] = '\0';
  if (f) fclose(f);
  snprintf(cmd, sizeof cmd, "tailquant train --resume %s", dir);
  if (!strstr(out, cmd)) fprintf(stderr, "\n  after SIGINT: %s\n", out);
  CU_ASSERT(strstr(out, cmd) != NULL);
  CU_ASSERT(exists("runs/int/checkpoint.bin"));
  CU_ASSERT(!exists("runs/int/summary.json"));
  char c2[600];
  snprintf(c2, sizeof c2, "%s/checkpoint.bin", dir);
  struct stat cs;
  CU_ASSERT(stat(c2, &cs) == 0 && cs.st_size > 100000);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/tq_hostile_XXXXXX");
  if (!mkdtemp(root)) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  static const tq_test_case cs[] = {
      {"hostile cases: exit code, reason, nothing complete left", test_table},
      {"includes and --set compose; paths; injective sweep names", test_compose_and_names},
      {"two processes, edited config, cut metrics and checkpoint on --resume", test_resume_and_lock},
      {"SIGINT: checkpoint, --resume command, exit 130", test_sigint},
      {NULL, NULL}};
  tq_test_add_suite("hostile input", cs);
  int rc = tq_test_run();
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  if (rc == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
  return rc;
}
