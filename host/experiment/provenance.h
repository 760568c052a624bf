/* What a run is, for summary.json and config.cfg: the tailquant version and git commit, the
 * command line, the dataset (its four files, their sizes and CRC-32s), the device(s) with their
 * driver and platform versions, and the start and end time in ISO 8601 UTC. */
#ifndef TQ_EXPERIMENT_PROVENANCE_H
#define TQ_EXPERIMENT_PROVENANCE_H

#include <stdint.h>

#include "experiment/config.h"
#include "experiment/metrics.h"
#include "util/err.h"

#define TQ_PROV_FILES 4

typedef struct tq_provenance {
  char started[32]; /* "2025-01-31T12:00:00Z" */
  char command[4096];
  char dataset[128]; /* a label: the folder holding data.train_images ("fashion-mnist") */
  struct {
    const char *key; /* "train_images", ... */
    char path[TQ_PATH_MAX];
    long long bytes;
    uint32_t crc32; /* of the file as stored (compressed or not) */
  } files[TQ_PROV_FILES];
  char devices[1024]; /* distinct devices, "; "-separated: "name (platform; driver ...; OpenCL ...)" */
  char driver[256];   /* the first device's CL_DRIVER_VERSION */
} tq_provenance;

/* The current time as ISO 8601 UTC, "YYYY-MM-DDTHH:MM:SSZ". */
void tq_iso_utc(char *out, size_t cap);

/* Collects everything but the end time. devices: the spec the workers' devices were chosen by
 * (comma-separated, as workers.devices). command: the command line as typed, or NULL. */
tq_status tq_provenance_collect(tq_provenance *p, const tq_experiment *x, const char *devices,
                                const char *command, tq_err *e);

/* Appends the provenance to a written config.cfg as comment lines (the file still loads as it
 * did: --resume reads it). */
tq_status tq_provenance_append_cfg(const tq_provenance *p, const char *path, tq_err *e);

/* Adds the provenance fields to summary.json, with the end time taken now. */
void tq_provenance_json(const tq_provenance *p, tq_json *j);

#endif
