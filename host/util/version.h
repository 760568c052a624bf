/* What this binary is: the project version (TQ_VERSION, from CMakeLists.txt) and the git
 * commit it was built from, taken at build time by cmake/git_version.cmake ("unknown" when
 * the sources are not a git checkout). */
#ifndef TQ_UTIL_VERSION_H
#define TQ_UTIL_VERSION_H

extern const char tq_git_commit[];   /* full hash, with "-dirty" when the tree had changes */
extern const char tq_git_describe[]; /* `git describe --always --dirty`, e.g. "a6336d6-dirty" */

#endif
