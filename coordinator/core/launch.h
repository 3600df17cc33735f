/* The operations of an ACCEPT that launches tasks, reserves what they take
 * and releases reservations of ours. Pure: arguments in, cJSON out; no I/O,
 * no state. */
#ifndef QM_LAUNCH_H
#define QM_LAUNCH_H

#include "core/offer.h"
#include "core/service.h"

#include <cjson/cJSON.h>

/* The "operations" array of an ACCEPT call (mesos_call_accept) holding one
 * LAUNCH of task_infos (an array of TaskInfo, taken):
 * [{"type":"LAUNCH","launch":{"task_infos":[...]}}]. The caller owns the
 * result. */
cJSON *launch_operations(cJSON *task_infos);

/* [RESERVE(reserve)?, LAUNCH(task_infos)]: reserve (an array of Resource,
 * e.g. from taskspec_fit_reserve) becomes
 * {"type":"RESERVE","reserve":{"resources":reserve}} ahead of the LAUNCH,
 * since the master applies an ACCEPT's operations in order; NULL leaves it
 * out. Both arguments are taken; the caller owns the result. */
cJSON *launch_operations_reserve(cJSON *reserve, cJSON *task_infos);

/* An UNRESERVE operation {"type":"UNRESERVE","unreserve":{"resources":[...]}}
 * of every kind of o whose current reservation is DYNAMIC and labeled ours
 * (RSV_LABEL_FRAMEWORK == framework) for service s, each entry as offered
 * with its whole value (taskspec_resource_offered; MOUNT disks included,
 * kinds already taken by a fit of o too). NULL when o has none (or
 * framework is NULL). The caller owns the result. */
cJSON *launch_unreserve_operation(const struct taskspec_offer *o,
				  const char *framework, enum service s);

#endif
