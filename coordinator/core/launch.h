/* The operations of an ACCEPT that launches tasks. Pure: arguments in,
 * cJSON out; no I/O, no state. */
#ifndef QM_LAUNCH_H
#define QM_LAUNCH_H

#include <cjson/cJSON.h>

/* The "operations" array of an ACCEPT call (mesos_call_accept) holding one
 * LAUNCH of task_infos (an array of TaskInfo, taken):
 * [{"type":"LAUNCH","launch":{"task_infos":[...]}}]. The caller owns the
 * result. */
cJSON *launch_operations(cJSON *task_infos);

#endif
