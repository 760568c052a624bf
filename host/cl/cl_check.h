/* Checked OpenCL and CLBlast calls: a failing call becomes a tq_err naming the call,
 * the error's symbolic name and number, and the source line that made it. */
#ifndef TQ_CL_CHECK_H
#define TQ_CL_CHECK_H

#include <CL/cl.h>
#include <clblast_c.h>

#include "util/err.h"

const char *tq_cl_error_name(cl_int code);
const char *tq_clblast_error_name(CLBlastStatusCode code);

tq_status tq_cl_check(cl_int rc, const char *call, const char *file, int line, tq_err *e);
tq_status tq_clblast_check(CLBlastStatusCode rc, const char *call, const char *file, int line,
                           tq_err *e);

/* Usage: TQ_TRY(TQ_CL(clFlush(q), e));  The call text goes into the message. */
#define TQ_CL(call, e) tq_cl_check((call), #call, __FILE__, __LINE__, (e))
#define TQ_CLBLAST(call, e) tq_clblast_check((call), #call, __FILE__, __LINE__, (e))

#endif
