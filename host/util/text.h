/* Small string helpers shared by modules that match names typed by users. */
#ifndef TQ_UTIL_TEXT_H
#define TQ_UTIL_TEXT_H

#include <stdbool.h>

/* Whether needle occurs in hay, ignoring ASCII case; an empty needle occurs everywhere. */
bool tq_contains_ci(const char *hay, const char *needle);

#endif
