#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/cfg.h"
#include "util/philox.h"

const char *tq_layer_kind_name(tq_layer_kind k) {
  switch (k) {
  case TQ_LAYER_CONV2D: return "conv2d";
  case TQ_LAYER_MAXPOOL: return "maxpool";
  case TQ_LAYER_RELU: return "relu";
  case TQ_LAYER_DENSE: return "dense";
  case TQ_LAYER_DROPOUT: return "dropout";
  case TQ_LAYER_FLATTEN: return "flatten";
  case TQ_LAYER_BATCHNORM: return "batchnorm";
  case TQ_LAYER_ADD: return "add";
  case TQ_LAYER_AVGPOOL: return "avgpool";
  }
  return "?";
}

static int add_entry(tq_tensor *table, int *count, size_t *total, const char *name,
                     const int *dims, int ndims, int fan_in) {
  tq_tensor *t = &table[*count];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->ndims = ndims;
  t->count = 1;
  for (int i = 0; i < 4; i++) t->dims[i] = i < ndims ? dims[i] : 0;
  for (int i = 0; i < ndims; i++) t->count *= (size_t)dims[i];
  t->offset = *total;
  t->fan_in = fan_in;
  *total += t->count;
  return (*count)++;
}

static int add_tensor(tq_model *m, const char *name, const int *dims, int ndims, int fan_in) {
  return add_entry(m->tensors, &m->ntensors, &m->nparams, name, dims, ndims, fan_in);
}

static int add_state(tq_model *m, const char *name, int c, int fan_in) {
  int d[1] = {c};
  return add_entry(m->states, &m->nstates, &m->nstate, name, d, 1, fan_in);
}

/* "layer 7 ('s2_in', line 30)" or "layer 7 (line 30)", or "the network input". */
static void layer_ref(const tq_model *m, int j, char *out, size_t cap) {
  if (j < 0) {
    snprintf(out, cap, "the network input");
    return;
  }
  const tq_layer *l = &m->layers[j];
  if (l->name[0])
    snprintf(out, cap, "layer %d '%s' (%s, line %d)", j + 1, l->name, tq_layer_kind_name(l->kind),
             l->line);
  else
    snprintf(out, cap, "layer %d (%s, line %d)", j + 1, tq_layer_kind_name(l->kind), l->line);
}

static tq_status shape_error(const tq_model *m, const tq_layer *l, int idx, tq_err *e,
                             const char *why) {
  return tq_fail(e, TQ_EINPUT, "%s:%d: layer %d (%s) with input %dx%dx%d: %s", m->path, l->line,
                 idx + 1, tq_layer_kind_name(l->kind), l->in.c, l->in.h, l->in.w, why);
}

tq_status tq_model_finish(tq_model *m, tq_err *e) {
  m->ntensors = 0;
  m->nparams = 0;
  m->nstates = 0;
  m->nstate = 0;
  int nconv = 0, ndense = 0, nbn = 0;
  if (m->nlayers > TQ_MAX_LAYERS)
    return tq_fail(e, TQ_EINPUT, "%s: %d layers; at most %d are supported", m->path, m->nlayers,
                   TQ_MAX_LAYERS);
  for (int i = 0; i < m->nlayers; i++) m->layers[i].uses = 0;
  for (int i = 0; i < m->nlayers; i++) {
    tq_layer *l = &m->layers[i];
    if (l->in_ref < 0 || l->in_ref > i || l->from_ref < 0 || l->from_ref > i)
      return tq_fail(e, TQ_EINPUT, "%s:%d: layer %d reads a layer that does not come before it",
                     m->path, l->line, i + 1);
    l->src = l->in_ref ? l->in_ref - 1 : i - 1;
    l->from = -1;
    tq_shape cur = l->src < 0 ? m->input : m->layers[l->src].out;
    if (l->src >= 0) m->layers[l->src].uses++;
    l->in = cur;
    l->w_tensor = l->b_tensor = -1;
    l->state_off = -1;
    char name[48];
    switch (l->kind) {
    case TQ_LAYER_CONV2D: {
      if (cur.w == 1 && cur.h == 1 && l->src >= 0 &&
          (m->layers[l->src].kind == TQ_LAYER_FLATTEN || m->layers[l->src].kind == TQ_LAYER_DENSE))
        return shape_error(m, l, i, e, "a convolution needs an image, but its input is flat");
      int oh = (cur.h + 2 * l->pad - l->size) / l->stride + 1;
      int ow = (cur.w + 2 * l->pad - l->size) / l->stride + 1;
      if (cur.h + 2 * l->pad < l->size || cur.w + 2 * l->pad < l->size)
        return shape_error(m, l, i, e, "the kernel is larger than the padded input");
      nconv++;
      int wd[4] = {l->units, cur.c, l->size, l->size}, bd[1] = {l->units};
      snprintf(name, sizeof name, "conv%d.weight", nconv);
      l->w_tensor = add_tensor(m, name, wd, 4, cur.c * l->size * l->size);
      if (!l->no_bias) {
        snprintf(name, sizeof name, "conv%d.bias", nconv);
        l->b_tensor = add_tensor(m, name, bd, 1, 0);
      }
      cur = (tq_shape){l->units, oh, ow};
      break;
    }
    case TQ_LAYER_MAXPOOL:
      if (cur.h < l->size || cur.w < l->size)
        return shape_error(m, l, i, e, "the pooling window is larger than the input");
      cur = (tq_shape){cur.c, (cur.h - l->size) / l->stride + 1, (cur.w - l->size) / l->stride + 1};
      break;
    case TQ_LAYER_RELU:
    case TQ_LAYER_DROPOUT: break;
    case TQ_LAYER_FLATTEN: cur = (tq_shape){(int)tq_shape_size(cur), 1, 1}; break;
    case TQ_LAYER_DENSE: {
      if (cur.h != 1 || cur.w != 1)
        return shape_error(m, l, i, e,
                           "a dense layer needs a flat input: put { type = \"flatten\"; } before it");
      ndense++;
      int wd[2] = {l->units, cur.c}, bd[1] = {l->units};
      snprintf(name, sizeof name, "fc%d.weight", ndense);
      l->w_tensor = add_tensor(m, name, wd, 2, cur.c);
      snprintf(name, sizeof name, "fc%d.bias", ndense);
      l->b_tensor = add_tensor(m, name, bd, 1, 0);
      cur = (tq_shape){l->units, 1, 1};
      break;
    }
    case TQ_LAYER_BATCHNORM: {
      nbn++;
      if (!(l->bn_momentum > 0)) l->bn_momentum = 0.1f;
      if (!(l->bn_eps > 0)) l->bn_eps = 1e-5f;
      int d[1] = {cur.c};
      snprintf(name, sizeof name, "bn%d.weight", nbn);
      l->w_tensor = add_tensor(m, name, d, 1, -1);
      snprintf(name, sizeof name, "bn%d.bias", nbn);
      l->b_tensor = add_tensor(m, name, d, 1, 0);
      l->state_off = (int)m->nstate;
      snprintf(name, sizeof name, "bn%d.running_mean", nbn);
      add_state(m, name, cur.c, 0);
      snprintf(name, sizeof name, "bn%d.running_var", nbn);
      add_state(m, name, cur.c, -1);
      break;
    }
    case TQ_LAYER_ADD: {
      if (l->from_ref == 0)
        return shape_error(m, l, i, e, "an add layer needs from = \"NAME\" (an earlier layer)");
      l->from = l->from_ref - 1;
      char a[96], b[96];
      layer_ref(m, l->from, a, sizeof a);
      if (l->from == l->src)
        return tq_fail(e, TQ_EINPUT, "%s:%d: layer %d (add): from names its own input, %s",
                       m->path, l->line, i + 1, a);
      tq_shape o = m->layers[l->from].out;
      if (o.c != cur.c || o.h != cur.h || o.w != cur.w) {
        layer_ref(m, l->src, b, sizeof b);
        return tq_fail(e, TQ_EINPUT,
                       "%s:%d: layer %d (add): its input, %s, is %dx%dx%d but from = %s is "
                       "%dx%dx%d; the shapes must be equal (a strided or 1x1 convolution on the "
                       "shortcut changes them)",
                       m->path, l->line, i + 1, b, cur.c, cur.h, cur.w, a, o.c, o.h, o.w);
      }
      m->layers[l->from].uses++;
      break;
    }
    case TQ_LAYER_AVGPOOL: cur = (tq_shape){cur.c, 1, 1}; break;
    }
    l->out = cur;
    if (tq_shape_size(cur) == 0 || cur.h <= 0 || cur.w <= 0)
      return shape_error(m, l, i, e, "the output would be empty");
  }
  if (m->nlayers == 0) return tq_fail(e, TQ_EINPUT, "%s: the model has no layers", m->path);
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    char a[96];
    layer_ref(m, i, a, sizeof a);
    if (i + 1 < m->nlayers && l->uses == 0)
      return tq_fail(e, TQ_EINPUT, "%s:%d: the output of %s is never used: nothing after it reads it",
                     m->path, l->line, a);
    /* flatten is a view that shares its input's gradient buffer (net.c), so that input may feed
     * nothing else. */
    if (l->kind == TQ_LAYER_FLATTEN && l->src >= 0 && m->layers[l->src].uses > 1)
      return tq_fail(e, TQ_EINPUT,
                     "%s:%d: layer %d (flatten) reads a layer that other layers read too; "
                     "flatten the branch after the add, or use avgpool",
                     m->path, l->line, i + 1);
  }
  const tq_layer *last = &m->layers[m->nlayers - 1];
  if (last->kind != TQ_LAYER_DENSE || last->out.c != m->classes)
    return tq_fail(e, TQ_EINPUT,
                   "%s:%d: the last layer must be dense with units = classes (%d) to feed the "
                   "softmax cross-entropy loss; it is %s with output %dx%dx%d",
                   m->path, last->line, m->classes, tq_layer_kind_name(last->kind), last->out.c,
                   last->out.h, last->out.w);
  return TQ_OK;
}

static const char *const top_keys[] = {"name", "input", "classes", "layers", "loss", NULL};
static const char *const input_keys[] = {"channels", "height", "width", NULL};
/* Every layer may also have `name` (for later layers to refer to) and `input` (the name of an
 * earlier layer to read instead of the previous one). */
static const char *const conv_keys[] = {"type", "name", "input", "filters", "size", "stride", "pad", "bias", NULL};
static const char *const pool_keys[] = {"type", "name", "input", "size", "stride", NULL};
static const char *const dense_keys[] = {"type", "name", "input", "units", NULL};
static const char *const drop_keys[] = {"type", "name", "input", "p", NULL};
static const char *const bn_keys[] = {"type", "name", "input", "momentum", "eps", NULL};
static const char *const add_keys[] = {"type", "name", "input", "from", NULL};
static const char *const type_only[] = {"type", "name", "input", NULL};

/* The index + 1 of the earlier layer (0..upto-1) called `want`, or 0 with an error. */
static tq_status find_layer(const tq_model *m, int upto, const config_setting_t *s, const char *key,
                            const char *want, const char *file, int *out, tq_err *e) {
  for (int j = 0; j < upto; j++)
    if (m->layers[j].name[0] && !strcmp(m->layers[j].name, want)) {
      *out = j + 1;
      return TQ_OK;
    }
  const config_setting_t *k = config_setting_get_member(s, key);
  int line = k ? (int)config_setting_source_line(k) : (int)config_setting_source_line(s);
  for (int j = upto + 1; j < m->nlayers; j++)
    if (!strcmp(m->layers[j].name, want))
      return tq_fail(e, TQ_EINPUT, "%s:%d: %s = \"%s\": that layer (line %d) comes later; a layer "
                     "can read only layers before it", file, line, key, want, m->layers[j].line);
  return tq_fail(e, TQ_EINPUT, "%s:%d: %s = \"%s\": no earlier layer has name = \"%s\"", file,
                 line, key, want, want);
}

static tq_status load_layer(const config_setting_t *s, tq_layer *l, const char *file, tq_err *e) {
  char where[600];
  tq_cfg_where(s, file, where, sizeof where);
  if (config_setting_type(s) != CONFIG_TYPE_GROUP)
    return tq_fail(e, TQ_EINPUT, "%s: each layer must be a group { type = \"...\"; ... }", where);
  char type[32];
  TQ_TRY(tq_cfg_string(s, "type", true, NULL, type, sizeof type, file, e));
  memset(l, 0, sizeof *l);
  l->line = (int)config_setting_source_line(s);
  TQ_TRY(tq_cfg_string(s, "name", false, "", l->name, sizeof l->name, file, e));
  if (!strcmp(type, "conv2d")) {
    l->kind = TQ_LAYER_CONV2D;
    TQ_TRY(tq_cfg_only_keys(s, conv_keys, file, e));
    TQ_TRY(tq_cfg_int(s, "filters", true, 0, 1, 65536, &l->units, file, e));
    TQ_TRY(tq_cfg_int(s, "size", true, 0, 1, 64, &l->size, file, e));
    TQ_TRY(tq_cfg_int(s, "stride", false, 1, 1, 64, &l->stride, file, e));
    TQ_TRY(tq_cfg_int(s, "pad", false, 0, 0, 64, &l->pad, file, e));
    TQ_TRY(tq_cfg_bool(s, "bias", false, true, &l->no_bias, file, e));
    l->no_bias = !l->no_bias;
  } else if (!strcmp(type, "maxpool")) {
    l->kind = TQ_LAYER_MAXPOOL;
    TQ_TRY(tq_cfg_only_keys(s, pool_keys, file, e));
    TQ_TRY(tq_cfg_int(s, "size", true, 0, 1, 64, &l->size, file, e));
    TQ_TRY(tq_cfg_int(s, "stride", false, l->size, 1, 64, &l->stride, file, e));
  } else if (!strcmp(type, "dense")) {
    l->kind = TQ_LAYER_DENSE;
    TQ_TRY(tq_cfg_only_keys(s, dense_keys, file, e));
    TQ_TRY(tq_cfg_int(s, "units", true, 0, 1, 1 << 20, &l->units, file, e));
  } else if (!strcmp(type, "dropout")) {
    l->kind = TQ_LAYER_DROPOUT;
    TQ_TRY(tq_cfg_only_keys(s, drop_keys, file, e));
    double p;
    TQ_TRY(tq_cfg_float(s, "p", false, 0.5, 0.0, 0.95, &p, file, e));
    l->drop_p = (float)p;
  } else if (!strcmp(type, "batchnorm")) {
    l->kind = TQ_LAYER_BATCHNORM;
    TQ_TRY(tq_cfg_only_keys(s, bn_keys, file, e));
    double mom, eps;
    TQ_TRY(tq_cfg_float(s, "momentum", false, 0.1, 1e-6, 1.0, &mom, file, e));
    TQ_TRY(tq_cfg_float(s, "eps", false, 1e-5, 1e-12, 1.0, &eps, file, e));
    l->bn_momentum = (float)mom;
    l->bn_eps = (float)eps;
  } else if (!strcmp(type, "add")) {
    l->kind = TQ_LAYER_ADD;
    TQ_TRY(tq_cfg_only_keys(s, add_keys, file, e));
  } else if (!strcmp(type, "relu") || !strcmp(type, "flatten") || !strcmp(type, "avgpool")) {
    l->kind = !strcmp(type, "relu")      ? TQ_LAYER_RELU
              : !strcmp(type, "flatten") ? TQ_LAYER_FLATTEN
                                         : TQ_LAYER_AVGPOOL;
    TQ_TRY(tq_cfg_only_keys(s, type_only, file, e));
  } else {
    return tq_fail(e, TQ_EINPUT,
                   "%s: unknown layer type '%s' (known: conv2d, maxpool, relu, dense, dropout, "
                   "flatten, batchnorm, add, avgpool)",
                   where, type);
  }
  return TQ_OK;
}

tq_status tq_model_load(const char *path, tq_model *m, tq_err *e) {
  memset(m, 0, sizeof *m);
  if (strlen(path) >= sizeof m->path)
    return tq_fail(e, TQ_EINPUT, "%s: a model file path may be at most %zu characters", path,
                   sizeof m->path - 1);
  snprintf(m->path, sizeof m->path, "%s", path);
  config_t cfg;
  tq_cfg_init(&cfg);
  tq_status s = tq_cfg_read_file(&cfg, path, e);
  const config_setting_t *root = config_root_setting(&cfg);
  if (s == TQ_OK) s = tq_cfg_only_keys(root, top_keys, path, e);
  if (s == TQ_OK) s = tq_cfg_string(root, "name", true, NULL, m->name, sizeof m->name, path, e);
  char loss[64];
  if (s == TQ_OK)
    s = tq_cfg_string(root, "loss", false, "softmax_cross_entropy", loss, sizeof loss, path, e);
  if (s == TQ_OK && strcmp(loss, "softmax_cross_entropy") != 0)
    s = tq_fail(e, TQ_EINPUT, "%s:%d: loss '%s' is not supported (only softmax_cross_entropy)",
                path, config_setting_source_line(config_setting_get_member(root, "loss")), loss);
  if (s == TQ_OK) s = tq_cfg_int(root, "classes", true, 0, 2, 100000, &m->classes, path, e);
  const config_setting_t *in = config_setting_get_member(root, "input");
  if (s == TQ_OK && (!in || config_setting_type(in) != CONFIG_TYPE_GROUP))
    s = tq_fail(e, TQ_EINPUT,
                "%s: missing group 'input = { channels = ...; height = ...; width = ...; }'", path);
  if (s == TQ_OK) s = tq_cfg_only_keys(in, input_keys, path, e);
  if (s == TQ_OK) s = tq_cfg_int(in, "channels", true, 0, 1, 4096, &m->input.c, path, e);
  if (s == TQ_OK) s = tq_cfg_int(in, "height", true, 0, 1, 8192, &m->input.h, path, e);
  if (s == TQ_OK) s = tq_cfg_int(in, "width", true, 0, 1, 8192, &m->input.w, path, e);
  const config_setting_t *layers = config_setting_get_member(root, "layers");
  if (s == TQ_OK && (!layers || config_setting_type(layers) != CONFIG_TYPE_LIST))
    s = tq_fail(e, TQ_EINPUT, "%s: missing list 'layers = ( { type = \"conv2d\"; ... }, ... );'",
                path);
  if (s == TQ_OK) {
    int n = config_setting_length(layers);
    if (n > TQ_MAX_LAYERS)
      s = tq_fail(e, TQ_EINPUT, "%s: %d layers; at most %d are supported", path, n, TQ_MAX_LAYERS);
    for (int i = 0; s == TQ_OK && i < n; i++)
      s = load_layer(config_setting_get_elem(layers, (unsigned)i), &m->layers[i], path, e);
    if (s == TQ_OK) m->nlayers = n;
    /* Names, then the references to them (a name may be used only by later layers). */
    for (int i = 0; s == TQ_OK && i < n; i++) {
      const config_setting_t *ls = config_setting_get_elem(layers, (unsigned)i);
      tq_layer *l = &m->layers[i];
      for (int j = 0; j < i && l->name[0]; j++)
        if (!strcmp(m->layers[j].name, l->name))
          s = tq_fail(e, TQ_EINPUT, "%s:%d: name = \"%s\" is already the name of the layer at line %d",
                      path, l->line, l->name, m->layers[j].line);
      char ref[TQ_LAYER_NAME_MAX + 1];
      if (s == TQ_OK) s = tq_cfg_string(ls, "input", false, "", ref, sizeof ref, path, e);
      if (s == TQ_OK && ref[0]) s = find_layer(m, i, ls, "input", ref, path, &l->in_ref, e);
      if (s == TQ_OK && l->kind == TQ_LAYER_ADD) {
        s = tq_cfg_string(ls, "from", true, NULL, ref, sizeof ref, path, e);
        if (s == TQ_OK) s = find_layer(m, i, ls, "from", ref, path, &l->from_ref, e);
      }
    }
  }
  if (s == TQ_OK) s = tq_model_finish(m, e);
  config_destroy(&cfg);
  return s;
}

void tq_model_init_params(const tq_model *m, uint32_t seed, float *params) {
  for (int t = 0; t < m->ntensors; t++) {
    const tq_tensor *tt = &m->tensors[t];
    float *p = params + tt->offset;
    if (tt->fan_in <= 0) {
      for (size_t i = 0; i < tt->count; i++) p[i] = tt->fan_in < 0 ? 1.0f : 0.0f;
      continue;
    }
    double sd = sqrt(2.0 / tt->fan_in);
    for (size_t i = 0; i < tt->count; i += 2) {
      /* Box-Muller on two Philox draws; (x+1)/2^32 keeps log() away from 0. */
      uint32_t ctr[4] = {(uint32_t)(i >> 1), (uint32_t)t, 0, TQ_RNG_INIT}, key[2] = {seed, 0}, o[4];
      tq_philox4x32(ctr, key, o);
      double u1 = ((double)o[0] + 1.0) / 4294967296.0, u2 = (double)o[1] / 4294967296.0;
      double r = sqrt(-2.0 * log(u1));
      p[i] = (float)(sd * r * cos(6.283185307179586 * u2));
      if (i + 1 < tt->count) p[i + 1] = (float)(sd * r * sin(6.283185307179586 * u2));
    }
  }
}

void tq_model_init_state(const tq_model *m, float *state) {
  for (int t = 0; t < m->nstates; t++)
    for (size_t i = 0; i < m->states[t].count; i++)
      state[m->states[t].offset + i] = m->states[t].fan_in < 0 ? 1.0f : 0.0f;
}

double tq_model_flops_per_sample(const tq_model *m) {
  double f = 0;
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    if (l->kind == TQ_LAYER_CONV2D)
      f += 2.0 * (double)tq_shape_size(l->out) * l->in.c * l->size * l->size;
    else if (l->kind == TQ_LAYER_DENSE)
      f += 2.0 * (double)l->in.c * l->units;
  }
  return f;
}

void tq_model_describe(const tq_model *m, char *out, size_t cap) {
  size_t used = (size_t)snprintf(out, cap, "model %s (%s): input %dx%dx%d, %zu parameters\n",
                                 m->name, m->path, m->input.c, m->input.h, m->input.w, m->nparams);
  for (int i = 0; i < m->nlayers && used < cap; i++) {
    const tq_layer *l = &m->layers[i];
    size_t np = 0;
    if (l->w_tensor >= 0) np += m->tensors[l->w_tensor].count;
    if (l->b_tensor >= 0) np += m->tensors[l->b_tensor].count;
    char reads[96] = "";
    if (l->src != i - 1 || l->kind == TQ_LAYER_ADD) {
      int r = l->kind == TQ_LAYER_ADD ? l->from : l->src;
      const char *nm = r >= 0 ? m->layers[r].name : "input";
      snprintf(reads, sizeof reads, "  <- %s%s%.40s", l->kind == TQ_LAYER_ADD ? "+ " : "",
               r >= 0 && !nm[0] ? "layer " : "", nm[0] ? nm : "?");
      if (r >= 0 && !nm[0]) snprintf(reads, sizeof reads, "  <- %slayer %d", l->kind == TQ_LAYER_ADD ? "+ " : "", r + 1);
    }
    used += (size_t)snprintf(out + used, cap - used, "  %2d %-9s -> %4d x %3d x %3d  %9zu params%s\n",
                             i + 1, tq_layer_kind_name(l->kind), l->out.c, l->out.h, l->out.w, np, reads);
  }
}

static void add_shape(tq_gemm_shape *out, int cap, int *n, const char *layer, const char *pass,
                      bool ta, bool tb, size_t m, size_t nn, size_t k) {
  if (*n >= cap) return;
  tq_gemm_shape *g = &out[(*n)++];
  snprintf(g->what, sizeof g->what, "%s %s", layer, pass);
  g->ta = ta;
  g->tb = tb;
  g->m = m;
  g->n = nn;
  g->k = k;
}

int tq_model_gemm_shapes(const tq_model *m, int batch, tq_gemm_shape *out, int cap) {
  int n = 0, conv = 0, dense = 0;
  size_t B = (size_t)batch;
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    char name[24];
    if (l->kind == TQ_LAYER_CONV2D) {
      size_t K = (size_t)l->units, CKK = (size_t)l->in.c * l->size * l->size,
             NP = B * l->out.h * l->out.w;
      snprintf(name, sizeof name, "conv%d", ++conv);
      add_shape(out, cap, &n, name, "forward", false, false, K, NP, CKK);
      add_shape(out, cap, &n, name, "weight gradient", false, true, K, CKK, NP);
      if (l->src >= 0) add_shape(out, cap, &n, name, "input gradient", true, false, CKK, NP, K);
    } else if (l->kind == TQ_LAYER_DENSE) {
      size_t I = (size_t)l->in.c, O = (size_t)l->units;
      snprintf(name, sizeof name, "fc%d", ++dense);
      add_shape(out, cap, &n, name, "forward", false, true, B, O, I);
      add_shape(out, cap, &n, name, "weight gradient", true, false, O, I, B);
      if (l->src >= 0) add_shape(out, cap, &n, name, "input gradient", false, false, B, I, O);
    }
  }
  return n;
}
