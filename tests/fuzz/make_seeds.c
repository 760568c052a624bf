/* Writes the seed corpora of the fuzz targets into OUT/{wire,config,idx}:
 *   wire:   a valid message of every method at every bit width it allows (with and without the
 *           zero level, several tensor sizes, bucket sizes), made by the reference encoder,
 *           each behind the fuzz_wire control byte (and a few with explicit expectations);
 *   config: the shipped experiment files (config/) and model files (models/), a sweep, and
 *           one with overrides;
 *   idx:    small image and label files, plain and gzipped;
 *   model:  the shipped model files, one with an include that overrides, one with a 64-bit
 *           integer;
 *   checkpoint: small valid checkpoints (with and without residuals) behind the fuzz_checkpoint
 *           control byte.
 * Usage: make_seeds OUT */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "compress/quant_ref.h"
#include "experiment/checkpoint.h"

static const char *out_dir;

static void put(const char *sub, const char *name, const void *a, size_t na, const void *b,
                size_t nb) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", out_dir, sub);
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    perror(path);
    exit(1);
  }
  snprintf(path, sizeof path, "%s/%s/%s", out_dir, sub, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(a, 1, na, f) != na || (nb && fwrite(b, 1, nb, f) != nb) || fclose(f)) {
    perror(path);
    exit(1);
  }
}

static void wire_seeds(void) {
  static float g[3000];
  unsigned s = 12345;
  for (size_t i = 0; i < 3000; i++) { /* heavy-tailed: a ratio of uniforms */
    s = s * 1103515245u + 12345u;
    float u = ((s >> 8) + 1) / 16777218.0f;
    s = s * 1103515245u + 12345u;
    float v = ((s >> 8) + 1) / 16777218.0f - 0.5f;
    g[i] = 0.01f * v / sqrtf(u);
  }
  static const size_t sizes[] = {1, 37, 1000};
  int made = 0;
  for (int m = 0; m < TQ_METHOD_COUNT; m++)
    for (int zl = 0; zl < 2; zl++) {
      if (zl && !tq_method_is_truncated((tq_method)m)) continue;
      for (int bits = tq_bits_min((tq_method)m, zl); bits <= tq_bits_max((tq_method)m); bits++)
        for (size_t si = 0; si < 3; si++) {
          tq_compress_cfg c;
          tq_compress_cfg_default(&c);
          c.method = (tq_method)m;
          c.bits = bits;
          c.zero_level = zl;
          c.min_elems = 0;
          c.bucket = si == 2 ? 128 : 16;
          c.error_feedback = si == 1;
          tq_buf msg = {0};
          tq_err e = {0};
          if (tq_ref_compress(&c, g, sizes[si], NULL, 1, 7, 3, &msg, NULL, &e) != TQ_OK) {
            fprintf(stderr, "make_seeds: %s\n", e.msg);
            exit(1);
          }
          char name[64];
          snprintf(name, sizeof name, "%s_b%d%s_n%zu", tq_method_name((tq_method)m), bits,
                   zl ? "_zl" : "", sizes[si]);
          uint8_t ctl = (uint8_t)(made % 2); /* alternate: own tensor id / any tensor */
          put("wire", name, &ctl, 1, msg.data, msg.len);
          if (made % 16 == 0) { /* explicit expectations, matching */
            uint8_t pre[9] = {0x80, 3, 0, 0, 0};
            uint32_t n = (uint32_t)sizes[si];
            memcpy(pre + 5, &n, 4);
            snprintf(name + strlen(name), sizeof name - strlen(name), "_x");
            put("wire", name, pre, 9, msg.data, msg.len);
          }
          tq_buf_free(&msg);
          made++;
        }
    }
  printf("make_seeds: %d wire messages\n", made);
}

static void copy_dir(const char *dir, const char *prefix) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", TQ_SOURCE_DIR, dir);
  DIR *d = opendir(path);
  if (!d) {
    perror(path);
    exit(1);
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l < 5 || strcmp(de->d_name + l - 4, ".cfg")) continue;
    snprintf(path, sizeof path, "%s/%s/%s", TQ_SOURCE_DIR, dir, de->d_name);
    FILE *f = fopen(path, "rb");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (!f || ferror(f)) {
      perror(path);
      exit(1);
    }
    fclose(f);
    char name[300];
    snprintf(name, sizeof name, "%s_%s", prefix, de->d_name);
    put("config", name, buf, n, NULL, 0);
    if (!strcmp(dir, "models")) put("model", de->d_name, buf, n, NULL, 0);
  }
  closedir(d);
}

static void config_seeds(void) {
  copy_dir("config", "exp");
  copy_dir("models", "model");
  const char *sweep =
      "experiment = { name = \"s\"; seed = 3; };\n"
      "train = { iterations = 10; lr = 0.05; lr_schedule = \"step\"; };\n"
      "sweep = ( { key = \"compression.method\"; values = [\"none\", \"qsgd\", \"tnqsgd\"]; },\n"
      "          { key = \"compression.bits\"; values = [2, 3, 4]; },\n"
      "          { key = \"train.lr\"; values = [0.1, 0.01]; } );\n";
  put("config", "sweep.cfg", sweep, strlen(sweep), NULL, 0);
  /* text, NUL, overrides separated by NULs */
  const char with_set[] = "compression = { method = \"tqsgd\"; bits = 4; };\n"
                          "\0train.lr=0.1\0compression.zero_level=true\0workers.count=3";
  put("config", "overrides.cfg", with_set, sizeof with_set - 1, NULL, 0);
}

static void model_seeds(void) {
  const char *dup = "name = \"m\";\ninput = { channels = 1; height = 8; width = 8; };\n"
                    "classes = 3;\nlayers = ( { type = \"conv2d\"; filters = 2L; size = 3; },\n"
                    "  { type = \"relu\"; }, { type = \"maxpool\"; size = 2; },\n"
                    "  { type = \"flatten\"; }, { type = \"dropout\"; p = 0.25; },\n"
                    "  { type = \"dense\"; units = 3; } );\n";
  put("model", "small.cfg", dup, strlen(dup), NULL, 0);
  const char *inc = "@include \"small.cfg\"\nname = \"n\";\n";
  put("model", "include.cfg", inc, strlen(inc), NULL, 0);
}

static void checkpoint_seeds(void) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/checkpoint", out_dir);
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    perror(dir);
    exit(1);
  }
  for (int res = 0; res < 2; res++) {
    enum { NP = 13, W = 2 };
    static float p[NP], m[NP], r[W * NP];
    for (int i = 0; i < NP; i++) p[i] = (float)i * 0.5f, m[i] = -(float)i;
    for (int i = 0; i < W * NP; i++) r[i] = (float)i / 7;
    tq_ckpt_worker wk[W] = {{0, 3}, {1, 5}};
    tq_checkpoint c = {.h = {.nparams = NP, .workers = W, .iteration = 4, .has_residuals = (uint32_t)res,
                             .metrics_bytes = 321, .bits_total = 1e6, .best_test_accuracy = 0.5},
                       .config_text = "train.lr=0.05\ncompression.method=tnqsgd\nmodel.layer1=dense\n",
                       .params = p, .momentum = m, .workers = wk, .residuals = res ? r : NULL};
    char path[1100];
    snprintf(path, sizeof path, "%s/ckpt%d.tmpbin", dir, res);
    tq_err e = {0};
    if (tq_checkpoint_write(path, &c, &e) != TQ_OK) {
      fprintf(stderr, "make_seeds: %s\n", e.msg);
      exit(1);
    }
    FILE *f = fopen(path, "rb");
    static uint8_t buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    remove(path);
    const uint8_t ctl[] = {0x09, 0x08 | 0x02}; /* header counts + fix-ups; given 2 workers */
    char name[64];
    for (int k = 0; k < 2; k++) {
      snprintf(name, sizeof name, "ckpt%d_%d.bin", res, k);
      put("checkpoint", name, &ctl[k], 1, buf, n);
    }
  }
}

static void gz_put(const char *name, const uint8_t *p, size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/idx/%s", out_dir, name);
  gzFile f = gzopen(path, "wb9");
  if (!f || gzwrite(f, p, (unsigned)n) != (int)n || gzclose(f) != Z_OK) {
    fprintf(stderr, "make_seeds: cannot write %s\n", path);
    exit(1);
  }
}

static void idx_seeds(void) {
  uint8_t img[16 + 3 * 4 * 5] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5};
  for (int i = 16; i < (int)sizeof img; i++) img[i] = (uint8_t)(i * 37);
  uint8_t lab[8 + 7] = {0, 0, 8, 1, 0, 0, 0, 7, 0, 1, 2, 3, 4, 5, 9};
  put("idx", "images.idx", img, sizeof img, NULL, 0);
  put("idx", "labels.idx", lab, sizeof lab, NULL, 0);
  gz_put("images.idx.gz", img, sizeof img);
  gz_put("labels.idx.gz", lab, sizeof lab);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_seeds OUT\n");
    return 2;
  }
  out_dir = argv[1];
  if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
    perror(out_dir);
    return 1;
  }
  wire_seeds();
  config_seeds();
  idx_seeds();
  model_seeds();
  checkpoint_seeds();
  return 0;
}
