/* The ACCEPT's operations for a launch (core/launch.h). The wire shape is
 * Offer.Operation in include/mesos/v1/mesos.proto (1.4.0 and 1.11.0): type
 * LAUNCH = 1 with a Launch message of repeated TaskInfo task_infos = 1,
 * RESERVE = 2 with Reserve {repeated Resource resources = 1}, UNRESERVE = 3
 * with Unreserve {repeated Resource resources = 1}; the scheduler HTTP API
 * takes its JSON form. Allocation failure aborts (core/cj.h). */
#include "core/launch.h"

#include "core/cj.h"

#include <string.h>

static cJSON *operation(const char *type, const char *field, const char *key,
			cJSON *items)
{
	cJSON *op = cj_ck(cJSON_CreateObject());
	cj_add_str(op, "type", type);
	cj_put(cj_add_obj(op, field), key, items);
	return op;
}

cJSON *launch_operations(cJSON *task_infos)
{
	cJSON *opv = cj_ck(cJSON_CreateArray());
	cj_push(opv, operation("LAUNCH", "launch", "task_infos", task_infos));
	return opv;
}

cJSON *launch_operations_reserve(cJSON *reserve, cJSON *task_infos)
{
	cJSON *opv = cj_ck(cJSON_CreateArray());
	if (reserve)
		cj_push(opv, operation("RESERVE", "reserve", "resources", reserve));
	cj_push(opv, operation("LAUNCH", "launch", "task_infos", task_infos));
	return opv;
}

/* UNRESERVE (src/common/resources.cpp Resources::apply, 1.4.0;
 * src/common/resources_utils.cpp getResourceConversions, 1.11.0): each
 * entry must be contained in the offer, so it names the kind exactly as
 * offered, whole reservation stack included, and its current reservation
 * must be DYNAMIC; the master pops that one reservation. No principal
 * check is made against the reservation's (src/master/validation.cpp
 * operation::validate for Unreserve, 1.4.0 and 1.11.0: the "unreserve"
 * ACL decides). A persistent volume cannot be unreserved; our MOUNT kinds
 * carry none (offer.c). */
cJSON *launch_unreserve_operation(const struct taskspec_offer *o,
				  const char *framework, enum service s)
{
	if (!framework)
		return NULL;
	cJSON *arr = NULL;
	for (size_t i = 0; i < o->nres; i++) {
		const struct taskspec_resource *r = &o->res[i];
		if (!r->dynamic || !r->rsv_framework ||
		    strcmp(r->rsv_framework, framework) != 0 ||
		    strcmp(r->rsv_service, service_name(s)) != 0)
			continue;
		cJSON *e = taskspec_resource_offered(r);
		if (!e)
			continue;
		if (!arr)
			arr = cj_ck(cJSON_CreateArray());
		cj_push(arr, e);
	}
	if (!arr)
		return NULL;
	return operation("UNRESERVE", "unreserve", "resources", arr);
}
