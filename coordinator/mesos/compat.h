/* What the Mesos client knows about the masters' releases and wording:
 * which FrameworkInfo capabilities each release understands, how releases
 * compare, and which refusals no retry can change. Pure: no I/O, no state;
 * any thread. Included by mesos.h, its public surface. */
#ifndef QM_MESOS_COMPAT_H
#define QM_MESOS_COMPAT_H

#include <stdbool.h>
#include <stddef.h>

#define MESOS_OLDEST_SUPPORTED "1.4.0"

/* Capability names that a master of `version` ("1.4.0"; NULL or "" =
 * unknown: the oldest supported release is assumed) knows, among those we
 * want. Fills names (up to cap), returns the count. */
size_t mesos_capabilities_for(const char *version, const char **names, size_t cap);
/* Is an ERROR message / refusal one that no retry can change (Mesos's
 * src/master/master.cpp wording)? If so, the operator's way out in remedy. */
bool mesos_refusal_remedy(const char *message, char *remedy, size_t cap);
/* Compare dotted releases ("1.10.0" > "1.9.2"); unparsable parts count 0. */
int mesos_version_cmp(const char *a, const char *b);

#endif
