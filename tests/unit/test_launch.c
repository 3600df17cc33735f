#include "core/launch.h"

#include <criterion/criterion.h>
#include <stdlib.h>

/* The ACCEPT's operations: exactly the JSON form of one Offer.Operation
 * LAUNCH (mesos.proto), the task infos taken as they are. */
Test(launch, operations_hold_one_launch_of_the_task_infos)
{
	cJSON *tis = cJSON_CreateArray();
	cJSON *ti = cJSON_CreateObject();
	cJSON_AddStringToObject(ti, "name", "quobyte-data");
	cJSON_AddItemToArray(tis, ti);
	cJSON *ti2 = cJSON_CreateObject();
	cJSON_AddStringToObject(ti2, "name", "quobyte-prober");
	cJSON_AddItemToArray(tis, ti2);

	cJSON *ops = launch_operations(tis);
	char *s = cJSON_PrintUnformatted(ops);
	cr_assert_str_eq(s, "[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":"
			    "[{\"name\":\"quobyte-data\"},{\"name\":\"quobyte-prober\"}]}}]");
	free(s);
	cJSON_Delete(ops);
}

Test(launch, empty_task_infos_stay_an_array)
{
	cJSON *ops = launch_operations(cJSON_CreateArray());
	char *s = cJSON_PrintUnformatted(ops);
	cr_assert_str_eq(s, "[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[]}}]");
	free(s);
	cJSON_Delete(ops);
}
