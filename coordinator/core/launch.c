/* The ACCEPT's operations for a launch (core/launch.h). The wire shape is
 * Offer.Operation in include/mesos/v1/mesos.proto (1.4.0 and 1.11.0): type
 * LAUNCH = 1 with a Launch message of repeated TaskInfo task_infos = 1; the
 * scheduler HTTP API takes its JSON form. Allocation failure aborts
 * (core/cj.h). */
#include "core/launch.h"

#include "core/cj.h"

cJSON *launch_operations(cJSON *task_infos)
{
	cJSON *opv = cj_ck(cJSON_CreateArray());
	cJSON *op = cj_ck(cJSON_CreateObject());
	cj_add_str(op, "type", "LAUNCH");
	cj_put(cj_add_obj(op, "launch"), "task_infos", task_infos);
	cj_push(opv, op);
	return opv;
}
