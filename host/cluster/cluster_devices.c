/* Devices and memory admission: which device each worker runs on (workers.devices, each distinct
 * device opened once), and whether the replicas fit before anything is allocated. */
#include <stdio.h>
#include <string.h>

#include "cluster/cluster_internal.h"
#include "nn/memory.h"

/* Opens every device named in workers.devices once; the workers placed on a device share its
 * context, each with a queue of its own. */
tq_status tq_cluster_open_devices(tq_cluster *c, int *worker_dev, tq_err *e) {
  char list[1024];
  const char *want = c->cfg.devices && c->cfg.devices[0] ? c->cfg.devices : "auto";
  if (strlen(want) >= sizeof list)
    return tq_fail(e, TQ_EINPUT, "workers.devices: longer than %zu characters", sizeof list - 1);
  snprintf(list, sizeof list, "%s", want);
  char *save = NULL;
  int nspec = 0;
  int spec_dev[MAX_DEVICES];
  for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ') tok++;
    if (nspec == MAX_DEVICES)
      return tq_fail(e, TQ_EINPUT, "workers.devices: at most %d devices", MAX_DEVICES);
    tq_cl_devinfo info;
    TQ_TRY(tq_cl_select_device(tok, &info, e));
    int found = -1;
    for (int d = 0; d < c->ndev && found < 0; d++)
      if (c->dev[d].cl.info.device == info.device) found = d;
    if (found < 0) {
      found = c->ndev;
      device_slot *s = &c->dev[c->ndev++];
      snprintf(s->spec, sizeof s->spec, "%d:%d", info.platform_index, info.device_index);
      TQ_TRY(tq_cl_open_as(&s->cl, s->spec, c->cfg.device_profile, c->cfg.profiling, e));
      s->open = true;
    }
    spec_dev[nspec++] = found;
  }
  if (nspec == 0) return tq_fail(e, TQ_EINPUT, "workers.devices is empty");
  for (int w = 0; w < c->cfg.workers; w++) worker_dev[w] = spec_dev[w % nspec];
  return TQ_OK;
}

/* Refuses, before allocating anything, a configuration whose replicas cannot fit: one buffer
 * over the device's largest allocation, or all of a device's replicas (and the server on the
 * first device) over its global memory. The error says which knob to turn. */
tq_status tq_cluster_check_memory(const tq_cluster *c, const int *worker_dev, tq_err *e) {
  const tq_cluster_cfg *cfg = &c->cfg;
  int eval_batch = cfg->eval_batch > 0 ? cfg->eval_batch : cfg->batch;
  for (int d = 0; d < c->ndev; d++) {
    const tq_cl_devinfo *di = &c->dev[d].cl.info;
    double need = 0;
    int here = 0;
    for (int w = 0; w < cfg->workers; w++)
      if (worker_dev[w] == d && tq_cluster_is_local(c, w)) {
        /* replica + the compressor's residual and staging (about 3 copies of the gradient) */
        need += (double)tq_net_device_bytes(c->m, cfg->batch) + 3.0 * 4.0 * (double)c->m->nparams;
        here++;
      }
    if (d == 0) need += (double)tq_net_device_bytes(c->m, eval_batch);
    size_t big = tq_net_largest_buffer(c->m, cfg->batch > eval_batch ? cfg->batch : eval_batch);
    if (big > di->max_alloc)
      return tq_fail(e, TQ_EINPUT,
                     "%s at batch %d needs a %.1f MiB buffer, but %s allocates at most %.1f MiB "
                     "at once: lower train.batch_size",
                     c->m->name, cfg->batch > eval_batch ? cfg->batch : eval_batch,
                     (double)big / 1048576.0, di->name, (double)di->max_alloc / 1048576.0);
    if (need > (double)di->global_mem)
      return tq_fail(e, TQ_EINPUT,
                     "%s with %d worker%s at batch %d needs about %.2f GiB on %s, which has %.2f "
                     "GiB: lower train.batch_size or workers.count, or spread the workers over "
                     "devices (workers.devices)",
                     c->m->name, here, here == 1 ? "" : "s", cfg->batch, need / 1073741824.0,
                     di->name, (double)di->global_mem / 1073741824.0);
  }
  return TQ_OK;
}

const char *tq_cluster_device_name(const tq_cluster *c, int worker) {
  return tq_cluster_is_local(c, worker) ? c->w[worker].cl.info.name : c->server_cl.info.name;
}

void tq_cluster_describe_devices(const tq_cluster *c, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (int d = 0; d < c->ndev && used + 1 < cap; d++) {
    const tq_cl *cl = &c->dev[d].cl;
    int n = snprintf(buf + used, cap - used, "%s%s (%s profile)", d ? " + " : "", cl->info.name,
                     cl->profile ? cl->profile->name : "?");
    if (n < 0) break;
    used += (size_t)n;
  }
}
