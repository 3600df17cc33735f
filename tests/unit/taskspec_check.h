/* Helpers shared by the Criterion tests of core/ task specs
 * (test_validate.c, test_offer.c, test_taskinfo.c): JSON lookups that fail
 * the test when a key is missing, a check of TaskInfo/Resource JSON against
 * the Mesos message fields, and a plain test offer. Header-only (static
 * inline), so each test binary takes what it uses. */
#ifndef QM_TEST_TASKSPEC_CHECK_H
#define QM_TEST_TASKSPEC_CHECK_H

#include "core/taskspec.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static inline cJSON *parse(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	cr_assert_not_null(j, "test JSON does not parse: %s", text);
	return j;
}

static inline const cJSON *at(const cJSON *o, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	cr_assert_not_null(x, "missing key '%s'", key);
	return x;
}

static inline const char *str_at(const cJSON *o, const char *key)
{
	const cJSON *x = at(o, key);
	cr_assert(cJSON_IsString(x), "'%s' is not a string", key);
	return x->valuestring;
}

static inline double num_at(const cJSON *o, const char *key)
{
	const cJSON *x = at(o, key);
	cr_assert(cJSON_IsNumber(x), "'%s' is not a number", key);
	return x->valuedouble;
}

/* Every key of a TaskInfo must be a field of the Mesos message at that
 * place (scheduler API §5, §6): Mesos ignores unknown keys, so a typo would
 * silently drop a setting. Child types: NULL = leaf, "[T]" = array of T,
 * "[]" = array of leaves. */
static inline void check_schema(const cJSON *o, const char *type,
				const char *path)
{
	static const struct {
		const char *type, *key, *child;
	} schema[] = {
		{"TaskInfo", "name", NULL}, {"TaskInfo", "task_id", "ID"},
		{"TaskInfo", "agent_id", "ID"}, {"TaskInfo", "resources", "[Resource]"},
		{"TaskInfo", "command", "CommandInfo"},
		{"TaskInfo", "container", "ContainerInfo"},
		{"TaskInfo", "health_check", "HealthCheck"},
		{"TaskInfo", "kill_policy", "KillPolicy"},
		{"TaskInfo", "labels", "Labels"},
		{"TaskInfo", "discovery", "DiscoveryInfo"},
		{"ID", "value", NULL},
		{"Resource", "name", NULL}, {"Resource", "type", NULL},
		{"Resource", "scalar", "Scalar"}, {"Resource", "ranges", "Ranges"},
		{"Resource", "role", NULL},
		{"Resource", "reservation", "ReservationInfo"},
		{"Resource", "reservations", "[ReservationInfo]"},
		{"Resource", "allocation_info", "AllocationInfo"},
		{"Scalar", "value", NULL}, {"Ranges", "range", "[Range]"},
		{"Range", "begin", NULL}, {"Range", "end", NULL},
		{"ReservationInfo", "type", NULL}, {"ReservationInfo", "role", NULL},
		{"ReservationInfo", "principal", NULL},
		{"ReservationInfo", "labels", "Labels"},
		{"AllocationInfo", "role", NULL},
		{"CommandInfo", "shell", NULL}, {"CommandInfo", "value", NULL},
		{"CommandInfo", "arguments", "[]"},
		{"CommandInfo", "environment", "Environment"},
		{"CommandInfo", "uris", "[URI]"}, {"CommandInfo", "user", NULL},
		{"Environment", "variables", "[Variable]"},
		{"Variable", "name", NULL}, {"Variable", "value", NULL},
		{"URI", "value", NULL}, {"URI", "executable", NULL},
		{"URI", "extract", NULL}, {"URI", "cache", NULL},
		{"URI", "output_file", NULL},
		{"ContainerInfo", "type", NULL}, {"ContainerInfo", "docker", "DockerInfo"},
		{"ContainerInfo", "volumes", "[Volume]"},
		{"DockerInfo", "image", NULL}, {"DockerInfo", "network", NULL},
		{"DockerInfo", "privileged", NULL},
		{"DockerInfo", "force_pull_image", NULL},
		{"DockerInfo", "parameters", "[Parameter]"},
		{"Parameter", "key", NULL}, {"Parameter", "value", NULL},
		{"Volume", "container_path", NULL}, {"Volume", "host_path", NULL},
		{"Volume", "mode", NULL},
		{"HealthCheck", "type", NULL}, {"HealthCheck", "http", "HTTPCheckInfo"},
		{"HealthCheck", "delay_seconds", NULL},
		{"HealthCheck", "interval_seconds", NULL},
		{"HealthCheck", "timeout_seconds", NULL},
		{"HealthCheck", "consecutive_failures", NULL},
		{"HealthCheck", "grace_period_seconds", NULL},
		{"HTTPCheckInfo", "scheme", NULL}, {"HTTPCheckInfo", "port", NULL},
		{"HTTPCheckInfo", "path", NULL},
		{"HealthCheck", "tcp", "TCPCheckInfo"}, {"TCPCheckInfo", "port", NULL},
		{"KillPolicy", "grace_period", "DurationInfo"},
		{"DurationInfo", "nanoseconds", NULL},
		{"Labels", "labels", "[Label]"},
		{"Label", "key", NULL}, {"Label", "value", NULL},
		{"DiscoveryInfo", "visibility", NULL}, {"DiscoveryInfo", "name", NULL},
		{"DiscoveryInfo", "version", NULL}, {"DiscoveryInfo", "ports", "Ports"},
		{"Ports", "ports", "[Port]"},
		{"Port", "number", NULL}, {"Port", "name", NULL},
		{"Port", "protocol", NULL},
	};
	cr_assert(cJSON_IsObject(o), "%s is not an object", path);
	const cJSON *it;
	cJSON_ArrayForEach(it, o) {
		const char *child = NULL;
		bool known = false;
		for (size_t i = 0; i < sizeof schema / sizeof schema[0]; i++)
			if (strcmp(schema[i].type, type) == 0 &&
			    strcmp(schema[i].key, it->string) == 0) {
				known = true;
				child = schema[i].child;
			}
		cr_assert(known, "%s.%s is not a field of %s", path, it->string, type);
		char sub[256];
		snprintf(sub, sizeof sub, "%s.%s", path, it->string);
		if (!child) {
			cr_assert(!cJSON_IsObject(it) && !cJSON_IsArray(it),
				  "%s should be a leaf", sub);
		} else if (child[0] == '[') {
			cr_assert(cJSON_IsArray(it), "%s should be an array", sub);
			char elem[64];
			snprintf(elem, sizeof elem, "%.*s", (int)strlen(child) - 2,
				 child + 1);
			const cJSON *e;
			cJSON_ArrayForEach(e, it) {
				if (elem[0])
					check_schema(e, elem, sub);
				else
					cr_assert(cJSON_IsString(e), "%s[] not a string", sub);
			}
		} else {
			check_schema(it, child, sub);
		}
	}
}

/* One unreserved offer: cpus 4, mem 10240, disk 1000, ports 7861-7863 and
 * 31000-31009. */
static inline void parse_plain(cJSON **j, struct taskspec_offer *o)
{
	static const char plain_offer[] =
		"{\"id\":{\"value\":\"O1\"},\"agent_id\":{\"value\":\"S1\"},\"hostname\":\"node-1\","
		"\"allocation_info\":{\"role\":\"quobyte\"},\"resources\":["
		"{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}},"
		"{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":10240},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}},"
		"{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1000},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}},"
		"{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":7861,\"end\":7863},{\"begin\":31000,\"end\":31009}]},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}}]}";
	*j = parse(plain_offer);
	cr_assert_eq(taskspec_offer_parse(*j, o, NULL, 0), 0);
}

/* Sum of a resource name in a fit's resources, milli-units. */
static inline long long fit_scalar(const struct taskspec_fit *f, const char *name)
{
	long long m = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, f->resources)
		if (strcmp(str_at(e, "name"), name) == 0)
			m += (long long)(num_at(at(e, "scalar"), "value") * 1000 + 0.5);
	return m;
}

#endif
