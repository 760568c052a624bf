#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

tq_status tq_fail(tq_err *e, tq_status code, const char *fmt, ...) {
  if (!e || e->code != TQ_OK) return code;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return code;
}

tq_status tq_wrap(tq_err *e, const char *fmt, ...) {
  if (!e) return TQ_EINTERNAL;
  char prefix[512], old[sizeof e->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, e->msg, sizeof old);
  snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old);
  return e->code;
}

void tq_err_clear(tq_err *e) {
  if (!e) return;
  e->code = TQ_OK;
  e->msg[0] = '\0';
}

const char *tq_status_name(tq_status s) {
  switch (s) {
  case TQ_OK: return "ok";
  case TQ_EINPUT: return "bad input";
  case TQ_EIO: return "i/o error";
  case TQ_ECL: return "OpenCL error";
  case TQ_ENOMEM: return "out of memory";
  case TQ_EINTERNAL: return "internal error";
  case TQ_EINTR: return "interrupted";
  case TQ_ETIMEOUT: return "deadline missed";
  }
  return "unknown error";
}

int tq_exit_code(tq_status s) {
  switch (s) {
  case TQ_OK: return 0;
  case TQ_EINPUT: return 2;
  case TQ_EINTR: return 130;
  case TQ_EIO:
  case TQ_ECL:
  case TQ_ENOMEM:
  case TQ_EINTERNAL:
  case TQ_ETIMEOUT: return 1;
  }
  return 1;
}
