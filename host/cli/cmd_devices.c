/* tailquant devices: every OpenCL platform and device, with the index a user passes to
 * --device P:D. */
#include <stdio.h>
#include <string.h>

#include "cl/cl_runtime.h"
#include "cl/cl_tuning.h"
#include "cli/commands.h"

int tq_cmd_devices(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: tailquant devices\n\nLists every OpenCL device. Pick one for train/bench with "
             "--device auto|cpu|gpu|P:D|NAME-SUBSTRING.\n"
             "The column 'tuned' says whether `tailquant tune` stored CLBlast parameters for the\n"
             "device (applied whenever it is opened): yes (N kernels), no, or corrupt (ignored).\n"
             "'local KiB' and 'max wg' are CL_DEVICE_LOCAL_MEM_SIZE and\n"
             "CL_DEVICE_MAX_WORK_GROUP_SIZE; 'profile' is the device profile a run uses on it\n"
             "(cpu or gpu, from the device type; set device.profile or TAILQUANT_DEVICE_PROFILE\n"
             "to choose another). The profiles are listed below the table.\n");
      return 0;
    }
    fprintf(stderr, "tailquant devices: unknown option '%s'\n", argv[i]);
    return 2;
  }
  tq_err e = {0};
  tq_cl_devinfo devs[TQ_MAX_DEVICES];
  int n = 0;
  tq_status s = tq_cl_list_devices(devs, TQ_MAX_DEVICES, &n, &e);
  if (s != TQ_OK) return tq_cli_report("devices", s, e.msg);
  printf("%-5s %-28s %-40s %-5s %4s %10s %10s %9s %6s %-14s %4s %4s %-7s  %s\n", "P:D",
         "platform", "device", "type", "CUs", "global MiB", "alloc MiB", "local KiB", "max wg",
         "OpenCL C", "fp64", "fp16", "profile", "tuned");
  for (int i = 0; i < n; i++) {
    const tq_cl_devinfo *d = &devs[i];
    char pd[16];
    snprintf(pd, sizeof pd, "%d:%d", d->platform_index, d->device_index);
    const char *ver = d->c_version;
    if (!strncmp(ver, "OpenCL C ", 9)) ver += 9;
    char tuned[64];
    tq_tuning_describe(d, tuned, sizeof tuned);
    const tq_devprofile *p = NULL;
    tq_err pe = {0};
    if (tq_devprofile_choose(d->type, NULL, &p, &pe) != TQ_OK)
      return tq_cli_report("devices", TQ_EINPUT, pe.msg);
    printf("%-5s %-28.28s %-40.40s %-5s %4u %10llu %10llu %9llu %6zu %-14.14s %4s %4s %-7s  %s\n",
           pd, d->platform_name, d->name, d->type, d->compute_units,
           (unsigned long long)(d->global_mem >> 20), (unsigned long long)(d->max_alloc >> 20),
           (unsigned long long)(d->local_mem >> 10), d->max_work_group, ver,
           d->fp64 ? "yes" : "no", d->fp16 ? "yes" : "no", p->name, tuned);
  }
  printf("\nprofiles:\n");
  for (const char *names[] = {"cpu", "gpu", NULL}, **q = names; *q; q++)
    printf("  %-4s %s\n", *q, tq_devprofile_find(*q)->summary);
  return 0;
}
