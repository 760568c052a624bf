#include <stdio.h>

#include "cli/commands.h"
#include "util/err.h"

int tq_cli_report(const char *verb, int status, const char *msg) {
  if (status == TQ_OK) return 0;
  fprintf(stderr, "tailquant %s: %s\n", verb, msg && msg[0] ? msg : tq_status_name(status));
  return tq_exit_code((tq_status)status);
}
