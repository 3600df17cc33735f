/* The ACCEPT's operations for a launch (core/launch.h). The wire shape is
 * Offer.Operation in include/mesos/v1/mesos.proto (1.4.0 and 1.11.0): type
 * LAUNCH = 1 with a Launch message of repeated TaskInfo task_infos = 1; the
 * scheduler HTTP API takes its JSON form. A cJSON allocation failure aborts
 * through the hooks the coordinator installs (qm_error.h). */
#include "core/launch.h"

cJSON *launch_operations(cJSON *task_infos)
{
	cJSON *opv = cJSON_CreateArray();
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "type", "LAUNCH");
	cJSON *l = cJSON_AddObjectToObject(op, "launch");
	cJSON_AddItemToObject(l, "task_infos", task_infos);
	cJSON_AddItemToArray(opv, op);
	return opv;
}
