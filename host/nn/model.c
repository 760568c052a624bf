#include "nn/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/layer.h"
#include "util/cfg.h"
#include "util/philox.h"

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

int tq_model_add_tensor(tq_model *m, const char *name, const int *dims, int ndims, int fan_in) {
  return add_entry(m->tensors, &m->ntensors, &m->nparams, name, dims, ndims, fan_in);
}

int tq_model_add_state(tq_model *m, const char *name, int c, int fan_in) {
  int d[1] = {c};
  return add_entry(m->states, &m->nstates, &m->nstate, name, d, 1, fan_in);
}

int tq_model_kind_index(const tq_model *m, int i) {
  int k = 1;
  for (int j = 0; j < i; j++) k += m->layers[j].kind == m->layers[i].kind;
  return k;
}

void tq_model_layer_ref(const tq_model *m, int j, char *out, size_t cap) {
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

tq_status tq_model_shape_error(const tq_model *m, int i, const char *why, tq_err *e) {
  const tq_layer *l = &m->layers[i];
  return tq_fail(e, TQ_EINPUT, "%s:%d: layer %d (%s) with input %dx%dx%d: %s", m->path, l->line,
                 i + 1, tq_layer_kind_name(l->kind), l->in.c, l->in.h, l->in.w, why);
}

/* Layer i's input (src, in) and its own shape, tensors and states (its kind's shape op). */
static tq_status finish_layer(tq_model *m, int i, tq_err *e) {
  tq_layer *l = &m->layers[i];
  if (l->in_ref < 0 || l->in_ref > i || l->from_ref < 0 || l->from_ref > i)
    return tq_fail(e, TQ_EINPUT, "%s:%d: layer %d reads a layer that does not come before it",
                   m->path, l->line, i + 1);
  l->src = l->in_ref ? l->in_ref - 1 : i - 1;
  l->from = -1;
  l->in = l->src < 0 ? m->input : m->layers[l->src].out;
  if (l->src >= 0) m->layers[l->src].uses++;
  l->w_tensor = l->b_tensor = -1;
  l->state_off = -1;
  l->out = l->in;
  const tq_layer_ops *ops = tq_layer_ops_of(l->kind);
  if (ops->shape) TQ_TRY(ops->shape(m, i, e));
  tq_shape cur = l->out;
  if (tq_shape_size(cur) == 0 || cur.h <= 0 || cur.w <= 0)
    return tq_model_shape_error(m, i, "the output would be empty", e);
  return TQ_OK;
}

/* The rules about the whole graph: every output is read, each kind's own rule (check op), and
 * the loss's input. */
static tq_status check_graph(const tq_model *m, tq_err *e) {
  for (int i = 0; i < m->nlayers; i++) {
    const tq_layer *l = &m->layers[i];
    char a[96];
    tq_model_layer_ref(m, i, a, sizeof a);
    if (i + 1 < m->nlayers && l->uses == 0)
      return tq_fail(e, TQ_EINPUT,
                     "%s:%d: the output of %s is never used: nothing after it reads it", m->path,
                     l->line, a);
    const tq_layer_ops *ops = tq_layer_ops_of(l->kind);
    if (ops->check) TQ_TRY(ops->check(m, i, e));
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

tq_status tq_model_finish(tq_model *m, tq_err *e) {
  m->ntensors = 0;
  m->nparams = 0;
  m->nstates = 0;
  m->nstate = 0;
  if (m->nlayers > TQ_MAX_LAYERS)
    return tq_fail(e, TQ_EINPUT, "%s: %d layers; at most %d are supported", m->path, m->nlayers,
                   TQ_MAX_LAYERS);
  for (int i = 0; i < m->nlayers; i++) m->layers[i].uses = 0;
  for (int i = 0; i < m->nlayers; i++) TQ_TRY(finish_layer(m, i, e));
  if (m->nlayers == 0) return tq_fail(e, TQ_EINPUT, "%s: the model has no layers", m->path);
  return check_graph(m, e);
}

static const char *const top_keys[] = {"name", "input", "classes", "layers", "loss", NULL};
static const char *const input_keys[] = {"channels", "height", "width", NULL};
/* Every layer may also have `name` (for later layers to refer to) and `input` (the name of an
 * earlier layer to read instead of the previous one). */
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
  if (!tq_layer_kind_named(type, &l->kind)) {
    char known[256];
    tq_layer_kind_names(known, sizeof known);
    return tq_fail(e, TQ_EINPUT, "%s: unknown layer type '%s' (known: %s)", where, type, known);
  }
  const tq_layer_ops *ops = tq_layer_ops_of(l->kind);
  TQ_TRY(tq_cfg_only_keys(s, ops->keys, file, e));
  return ops->parse ? ops->parse(s, l, file, e) : TQ_OK;
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
      if (s == TQ_OK && tq_layer_ops_of(l->kind)->reads_from) {
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
    const tq_layer_ops *ops = tq_layer_ops_of(m->layers[i].kind);
    if (ops->flops) f += ops->flops(&m->layers[i]);
  }
  return f;
}
