#include "core/taskspec.h"
#include "qm_error.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------- */

static cJSON *parse(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	cr_assert_not_null(j, "test JSON does not parse: %s", text);
	return j;
}

static const cJSON *at(const cJSON *o, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	cr_assert_not_null(x, "missing key '%s'", key);
	return x;
}

static const char *str_at(const cJSON *o, const char *key)
{
	const cJSON *x = at(o, key);
	cr_assert(cJSON_IsString(x), "'%s' is not a string", key);
	return x->valuestring;
}

/* What the master will read for an int64 field: the exact number token as
 * printed into the call (a Raw item), never a string. */
static void assert_int64_token(const cJSON *o, const char *key, const char *want)
{
	cJSON *copy = cJSON_CreateObject();
	cJSON_AddItemToObject(copy, key, cJSON_Duplicate(at(o, key), true));
	char *text = cJSON_PrintUnformatted(copy);
	char exp[96];
	snprintf(exp, sizeof exp, "{\"%s\":%s}", key, want);
	cr_assert_str_eq(text, exp);
	free(text);
	cJSON_Delete(copy);
}

static double num_at(const cJSON *o, const char *key)
{
	const cJSON *x = at(o, key);
	cr_assert(cJSON_IsNumber(x), "'%s' is not a number", key);
	return x->valuedouble;
}

/* Value of an environment variable in a TaskInfo, NULL if absent. */
static const char *env(const cJSON *task, const char *name)
{
	const cJSON *vars = at(at(at(task, "command"), "environment"), "variables");
	const cJSON *v;
	const char *found = NULL;
	cJSON_ArrayForEach(v, vars) {
		if (strcmp(str_at(v, "name"), name) == 0) {
			cr_assert_null(found, "variable %s twice", name);
			found = str_at(v, "value");
		}
	}
	return found;
}

static const char *label(const cJSON *task, const char *key)
{
	const cJSON *l;
	cJSON_ArrayForEach(l, at(at(task, "labels"), "labels"))
		if (strcmp(str_at(l, "key"), key) == 0)
			return str_at(l, "value");
	return NULL;
}

static const char *param(const cJSON *docker, const char *key, int nth)
{
	const cJSON *p;
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(docker, "parameters");
	cJSON_ArrayForEach(p, params)
		if (strcmp(str_at(p, "key"), key) == 0 && nth-- == 0)
			return str_at(p, "value");
	return NULL;
}

static const cJSON *volume(const cJSON *container, const char *cpath)
{
	const cJSON *v;
	cJSON_ArrayForEach(v, at(container, "volumes"))
		if (strcmp(str_at(v, "container_path"), cpath) == 0)
			return v;
	return NULL;
}

/* Every key of a TaskInfo must be a field of the Mesos message at that
 * place (scheduler API §5, §6): Mesos ignores unknown keys, so a typo would
 * silently drop a setting. Child types: NULL = leaf, "[T]" = array of T,
 * "[]" = array of leaves. */
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

static void check_schema(const cJSON *o, const char *type, const char *path)
{
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

/* ---- validation ----------------------------------------------------- */

Test(taskspec, version_grammar)
{
	char longest[129], toolong[130];
	memset(longest, 'a', 128);
	longest[128] = '\0';
	memset(toolong, 'a', 129);
	toolong[129] = '\0';
	static const char *const good[] = {
		"3", "3.0", "2.24.1", "latest", "_x", "3.0-rc1", "A_b.C-d", "0",
	};
	static const char *const bad[] = {
		"", ".1", "-1", "3.0 ", "a b", "3.0;rm -rf /", "$(id)", "`id`",
		"v1/2", "3:0", "a\n", "\xc3\xbc", "3.0&&x", "a'b",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_assert(taskspec_version_valid(good[i]), "'%s' should pass", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert(!taskspec_version_valid(bad[i]), "'%s' should fail", bad[i]);
	cr_assert(taskspec_version_valid(longest));
	cr_assert(!taskspec_version_valid(toolong));
	cr_assert(!taskspec_version_valid(NULL));
}

Test(taskspec, hostname_rules)
{
	char label63[64], label64[65], total254[255];
	memset(label63, 'a', 63);
	label63[63] = '\0';
	memset(label64, 'a', 64);
	label64[64] = '\0';
	/* 127 "a." pairs = 254 bytes ending in '.', then cut to 253 + 1 */
	for (int i = 0; i < 254; i++)
		total254[i] = (i % 2) ? '.' : 'a';
	total254[253] = 'a';
	total254[254] = '\0';
	static const char *const good[] = {
		"node-3", "node-3.example.com", "10.0.0.13", "a", "N0DE", "1a",
	};
	static const char *const bad[] = {
		"", "-a", "a-", "a..b", "a_b", "a.", ".a", "a b", "a/b", "a;b",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_assert(taskspec_hostname_valid(good[i]), "'%s' should pass", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert(!taskspec_hostname_valid(bad[i]), "'%s' should fail", bad[i]);
	cr_assert(taskspec_hostname_valid(label63));
	cr_assert(!taskspec_hostname_valid(label64));
	cr_assert(!taskspec_hostname_valid(total254));
	total254[253] = '\0';
	total254[252] = 'a';
	cr_assert(taskspec_hostname_valid(total254));
}

Test(taskspec, mesos_id_rules)
{
	char max[256], over[257];
	memset(max, 'x', 255);
	max[255] = '\0';
	memset(over, 'x', 256);
	over[256] = '\0';
	cr_assert(taskspec_id_valid("quobyte-data.node-3.00000000000000ff"));
	cr_assert(taskspec_id_valid("a b"));  /* blanks are allowed by Mesos */
	cr_assert(taskspec_id_valid("..."));
	cr_assert(taskspec_id_valid(max));
	cr_assert(!taskspec_id_valid(over));
	cr_assert(!taskspec_id_valid(""));
	cr_assert(!taskspec_id_valid("."));
	cr_assert(!taskspec_id_valid(".."));
	cr_assert(!taskspec_id_valid("a/b"));
	cr_assert(!taskspec_id_valid("a\\b"));
	cr_assert(!taskspec_id_valid("a\nb"));
	cr_assert(!taskspec_id_valid("a\x7f"));
	cr_assert(!taskspec_id_valid(NULL));
}

Test(taskspec, image_names)
{
	static const char *const good[] = {
		"quobyte-server", "quay.io/quobyte/quobyte-server",
		"localhost/q", "localhost:5000/q/s", "registry.example.com:443/a_b/c__d",
		"a.b-c/x", "x--y", "library/alpine", "10.0.0.1:5000/img",
	};
	static const char *const bad[] = {
		"", "Quobyte", "quobyte-server:3.0", "a//b", "/a", "a/", "-a",
		"a-", "a..b", "a___b", "a b", "quay.io/Quobyte/x", "a@sha256:00",
		"host:99999/x", "a;b", "$(id)", "quay.io:/x",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_assert(taskspec_image_valid(good[i]), "'%s' should pass", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert(!taskspec_image_valid(bad[i]), "'%s' should fail", bad[i]);
}

Test(taskspec, paths_and_roles)
{
	cr_assert(taskspec_path_valid("/mnt/disk1"));
	cr_assert(taskspec_path_valid("/var/lib/quobyte/devices/data-0"));
	cr_assert(taskspec_path_valid("/"));
	cr_assert(!taskspec_path_valid("mnt/disk1"));
	cr_assert(!taskspec_path_valid("/mnt/../etc"));
	cr_assert(!taskspec_path_valid("/mnt/./x"));
	cr_assert(!taskspec_path_valid("/mnt//x"));
	cr_assert(!taskspec_path_valid("/mnt/x/"));
	cr_assert(!taskspec_path_valid("/mnt/a:b"));   /* docker -v separator */
	cr_assert(!taskspec_path_valid("/mnt/a,b"));   /* docker option separator */
	cr_assert(!taskspec_path_valid("/mnt/a\nb"));
	cr_assert(taskspec_role_valid("quobyte"));
	cr_assert(taskspec_role_valid("eng/backend"));
	cr_assert(!taskspec_role_valid("*"));
	cr_assert(!taskspec_role_valid(""));
	cr_assert(!taskspec_role_valid("-x"));
	cr_assert(!taskspec_role_valid("a/-x"));
	cr_assert(!taskspec_role_valid("a b"));
	cr_assert(!taskspec_role_valid("a\\b"));
	cr_assert(!taskspec_role_valid(".."));
}

/* ---- task IDs ------------------------------------------------------- */

Test(taskspec, task_id_shape_and_parse)
{
	char id[TASKSPEC_ID_MAX + 1];
	cr_assert_eq(taskspec_task_id("data", "node-3.example.com",
				      0x0123456789abcdefull, id, sizeof id), 0);
	cr_assert_str_eq(id, "quobyte-data.node-3.example.com.0123456789abcdef");
	cr_assert(taskspec_id_valid(id));
	char svc[32], host[256];
	cr_assert_eq(taskspec_task_id_parse(id, svc, sizeof svc, host, sizeof host), 0);
	cr_assert_str_eq(svc, "data");
	cr_assert_str_eq(host, "node-3.example.com");

	/* different randomness, different ID */
	char id2[TASKSPEC_ID_MAX + 1];
	cr_assert_eq(taskspec_task_id("data", "node-3.example.com", 1, id2, sizeof id2), 0);
	cr_assert_str_neq(id, id2);
	cr_assert_str_eq(id2, "quobyte-data.node-3.example.com.0000000000000001");
}

Test(taskspec, task_id_sanitises_hostname)
{
	char id[TASKSPEC_ID_MAX + 1];
	cr_assert_eq(taskspec_task_id("registry", "evil/../host\\x\n y", 7, id,
				      sizeof id), 0);
	cr_assert(taskspec_id_valid(id), "'%s' breaks the Mesos ID rules", id);
	cr_assert_str_eq(id, "quobyte-registry.evil_.._host_x__y.0000000000000007");
	cr_assert_eq(taskspec_task_id("api", "", 1, id, sizeof id), 0);
	cr_assert_str_eq(id, "quobyte-api.unknown.0000000000000001");
	cr_assert_eq(taskspec_task_id("api", NULL, 1, id, sizeof id), 0);
	cr_assert_str_eq(id, "quobyte-api.unknown.0000000000000001");

	char longhost[600];
	memset(longhost, 'h', sizeof longhost - 1);
	longhost[sizeof longhost - 1] = '\0';
	cr_assert_eq(taskspec_task_id("webconsole", longhost, 1, id, sizeof id), 0);
	cr_assert(strlen(id) <= TASKSPEC_ID_MAX);
	cr_assert(taskspec_id_valid(id));
	cr_assert_eq(taskspec_task_id_parse(id, NULL, 0, NULL, 0), 0);

	cr_assert_eq(taskspec_task_id("Data", "h", 1, id, sizeof id), QM_EINVAL);
	cr_assert_eq(taskspec_task_id("da ta", "h", 1, id, sizeof id), QM_EINVAL);
	cr_assert_eq(taskspec_task_id("data", "h", 1, id, 10), QM_ETOOBIG);
}

Test(taskspec, task_id_parse_rejects_foreign_ids)
{
	static const char *const foreign[] = {
		"probe.6c1e", "quobyte-data.node.123", "quobyte-.h.0123456789abcdef",
		"quobyte-data.0123456789abcdef", "quobyte-DATA.h.0123456789abcdef",
		"quobyte-data.h.0123456789ABCDEF", "other-data.h.0123456789abcdef",
	};
	for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
		cr_assert_eq(taskspec_task_id_parse(foreign[i], NULL, 0, NULL, 0),
			     QM_EINVAL, "'%s' should not parse", foreign[i]);
}

/* ---- offers --------------------------------------------------------- */

/* The OFFERS example of the scheduler API reference, §4, verbatim. */
static const char offers_event[] =
	"{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":{\"value\":\"M-O17\"},\"framework_id\":{\"value\":\"F\"},"
	" \"agent_id\":{\"value\":\"M-S3\"},\"hostname\":\"node-3\","
	" \"url\":{\"scheme\":\"http\",\"address\":{\"hostname\":\"node-3\",\"ip\":\"10.0.0.13\",\"port\":5051},\"path\":\"/slave(1)\"},"
	" \"domain\":{\"fault_domain\":{\"region\":{\"name\":\"eu-1\"},\"zone\":{\"name\":\"eu-1a\"}}},"
	" \"allocation_info\":{\"role\":\"quobyte\"},"
	" \"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":7.5},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}},"
	"  {\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,\"end\":32000}]},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}}],"
	" \"attributes\":[{\"name\":\"rack\",\"type\":\"TEXT\",\"text\":{\"value\":\"r12\"}}],"
	" \"executor_ids\":[{\"value\":\"E1\"}]}]}}";

static cJSON *first_offer(cJSON *event)
{
	const cJSON *arr = at(at(event, "offers"), "offers");
	cr_assert_eq(cJSON_GetArraySize(arr), 1);
	return cJSON_GetArrayItem(arr, 0);
}

static const struct taskspec_resource *find_res(const struct taskspec_offer *o,
						const char *name,
						const char *role)
{
	for (size_t i = 0; i < o->nres; i++) {
		const struct taskspec_resource *r = &o->res[i];
		if (strcmp(r->name, name) != 0)
			continue;
		if ((!role && !r->role) || (role && r->role && strcmp(role, r->role) == 0))
			return r;
	}
	return NULL;
}

Test(taskspec, parse_reference_offer)
{
	cJSON *ev = parse(offers_event);
	struct taskspec_offer o;
	char err[256] = "";
	cr_assert_eq(taskspec_offer_parse(first_offer(ev), &o, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(o.id, "M-O17");
	cr_assert_str_eq(o.agent_id, "M-S3");
	cr_assert_str_eq(o.hostname, "node-3");
	cr_assert_str_eq(o.role, "quobyte");
	cr_assert_str_eq(taskspec_offer_attr(&o, "rack"), "r12");
	cr_assert_null(taskspec_offer_attr(&o, "zone"));
	cr_assert_eq(o.skipped, 0);
	cr_assert_eq(o.nres, 2);

	const struct taskspec_resource *cpus = find_res(&o, "cpus", NULL);
	cr_assert_not_null(cpus);
	cr_assert_eq(cpus->type, TASKSPEC_SCALAR);
	cr_assert_eq(cpus->milli, 7500);
	cr_assert(cpus->fittable);
	cr_assert(!cpus->refinement, "role '*' is the pre-refinement format");
	const struct taskspec_resource *ports = find_res(&o, "ports", NULL);
	cr_assert_not_null(ports);
	cr_assert_eq(ports->nranges, 1);
	cr_assert_eq(ports->ranges[0].begin, 31000);
	cr_assert_eq(ports->ranges[0].end, 32000);
	cr_assert_eq(taskspec_offer_left(&o, "ports", TASKSPEC_RES_ANY), 1001);
	cr_assert_eq(taskspec_offer_left(&o, "cpus", TASKSPEC_RES_RESERVED), 0);
	cr_assert_eq(taskspec_offer_left(&o, "mem", TASKSPEC_RES_ANY), 0);

	char sum[256];
	taskspec_offer_summary(&o, sum, sizeof sum);
	cr_assert_str_eq(sum, "cpus=7.5 mem=0 disk=0 ports=[31000-32000]");
	taskspec_offer_free(&o);
	cJSON_Delete(ev);
}

/* An offer holding the same resources in both reservation formats (§5.1);
 * a master sends one format per framework, the parser must read both. */
static const char mixed_offer[] =
	"{\"id\":{\"value\":\"M-O20\"},\"framework_id\":{\"value\":\"F\"},\"agent_id\":{\"value\":\"M-S4\"},"
	"\"hostname\":\"node-4\",\"allocation_info\":{\"role\":\"quobyte\"},"
	"\"attributes\":[{\"name\":\"cores\",\"type\":\"SCALAR\",\"scalar\":{\"value\":2.5}},"
	" {\"name\":\"lanes\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":1,\"end\":2},{\"begin\":5,\"end\":6}]}},"
	" {\"name\":\"tags\",\"type\":\"SET\",\"set\":{\"item\":[\"ssd\",\"fast\"]}}],"
	"\"resources\":["
	/* pre-refinement: dynamic reservation, unreserved, static */
	" {\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1.0},\"role\":\"quobyte\",\"reservation\":{\"principal\":\"qc\"},\"allocation_info\":{\"role\":\"quobyte\"}},"
	" {\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.5},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}},"
	" {\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.25},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}},"
	" {\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096},\"role\":\"quobyte\",\"allocation_info\":{\"role\":\"quobyte\"}},"
	/* post-refinement: dynamic, and a refined stack */
	" {\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1024},\"allocation_info\":{\"role\":\"quobyte\"},"
	"   \"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"quobyte\",\"principal\":\"qc\"}]},"
	" {\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":100},\"allocation_info\":{\"role\":\"quobyte\"},"
	"   \"reservations\":[{\"type\":\"STATIC\",\"role\":\"quobyte\"},{\"type\":\"DYNAMIC\",\"role\":\"quobyte/backend\",\"principal\":\"p\"}]},"
	" {\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":500},\"allocation_info\":{\"role\":\"quobyte\"}},"
	/* not for plain fitting: revocable, MOUNT disk, shared */
	" {\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":8},\"role\":\"*\",\"revocable\":{},\"allocation_info\":{\"role\":\"quobyte\"}},"
	" {\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":100000},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"},"
	"   \"disk\":{\"source\":{\"type\":\"MOUNT\",\"mount\":{\"root\":\"/mnt/disk1\"}}}},"
	" {\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":7861,\"end\":7861}]},\"role\":\"quobyte\",\"reservation\":{\"principal\":\"qc\"},\"allocation_info\":{\"role\":\"quobyte\"}},"
	" {\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31002,\"end\":31005},{\"begin\":31000,\"end\":31001},{\"begin\":7871,\"end\":7873}]},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}},"
	/* malformed: skipped, not fatal */
	" {\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":-1},\"role\":\"*\"},"
	" {\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":9,\"end\":3}]},\"role\":\"*\"},"
	" {\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"role\":\"x\",\"reservations\":[{\"type\":\"STATIC\",\"role\":\"x\"}]}"
	"]}";

static void parse_mixed(cJSON **j, struct taskspec_offer *o)
{
	char err[256] = "";
	*j = parse(mixed_offer);
	cr_assert_eq(taskspec_offer_parse(*j, o, err, sizeof err), 0, "%s", err);
}

Test(taskspec, parse_both_reservation_formats)
{
	cJSON *j;
	struct taskspec_offer o;
	parse_mixed(&j, &o);
	cr_assert_eq(o.skipped, 3, "skipped %u (%s)", o.skipped, o.skip_reason);
	cr_assert(strstr(o.skip_reason, "cpus"), "%s", o.skip_reason);

	/* the two unreserved cpus entries are one kind: merged */
	const struct taskspec_resource *c_un = find_res(&o, "cpus", NULL);
	cr_assert_not_null(c_un);
	cr_assert_eq(c_un->milli, 750);
	const struct taskspec_resource *c_res = find_res(&o, "cpus", "quobyte");
	cr_assert_not_null(c_res);
	cr_assert_eq(c_res->milli, 1000);
	cr_assert(c_res->dynamic);
	cr_assert(!c_res->refinement);
	cr_assert_str_neq(c_un->kind, c_res->kind);

	/* static (pre) and dynamic (post) mem reservations differ in kind */
	const struct taskspec_resource *m_static = NULL, *m_dyn = NULL;
	for (size_t i = 0; i < o.nres; i++) {
		if (strcmp(o.res[i].name, "mem") != 0)
			continue;
		if (o.res[i].dynamic)
			m_dyn = &o.res[i];
		else
			m_static = &o.res[i];
	}
	cr_assert_not_null(m_static);
	cr_assert_not_null(m_dyn);
	cr_assert_str_eq(m_static->role, "quobyte");
	cr_assert_str_eq(m_dyn->role, "quobyte");
	cr_assert(m_dyn->refinement);
	cr_assert_eq(m_dyn->milli, 1024000);

	/* refined stack: the last reservation is the current one */
	const struct taskspec_resource *d_ref = find_res(&o, "disk", "quobyte/backend");
	cr_assert_not_null(d_ref);
	cr_assert(d_ref->dynamic);
	cr_assert_eq(d_ref->milli, 100000);

	/* not fittable kinds */
	size_t revocable = 0, mountdisk = 0;
	for (size_t i = 0; i < o.nres; i++) {
		if (o.res[i].revocable) {
			revocable++;
			cr_assert(!o.res[i].fittable);
		}
		if (o.res[i].has_disk) {
			mountdisk++;
			cr_assert(!o.res[i].fittable);
		}
	}
	cr_assert_eq(revocable, 1);
	cr_assert_eq(mountdisk, 1);
	cr_assert_eq(taskspec_offer_left(&o, "cpus", TASKSPEC_RES_ANY), 1750,
		     "revocable cpus must not count");
	cr_assert_eq(taskspec_offer_left(&o, "disk", TASKSPEC_RES_UNRESERVED), 500000);

	/* unreserved ports sorted and merged */
	const struct taskspec_resource *p_un = find_res(&o, "ports", NULL);
	cr_assert_eq(p_un->nranges, 2);
	cr_assert_eq(p_un->ranges[0].begin, 7871);
	cr_assert_eq(p_un->ranges[0].end, 7873);
	cr_assert_eq(p_un->ranges[1].begin, 31000);
	cr_assert_eq(p_un->ranges[1].end, 31005);

	cr_assert_str_eq(taskspec_offer_attr(&o, "cores"), "2.5");
	cr_assert_str_eq(taskspec_offer_attr(&o, "lanes"), "[1-2,5-6]");
	cr_assert_str_eq(taskspec_offer_attr(&o, "tags"), "{ssd,fast}");
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(taskspec, same_reservation_in_both_formats_is_one_kind)
{
	const char *pre = "{\"id\":{\"value\":\"O1\"},\"agent_id\":{\"value\":\"S1\"},\"hostname\":\"h\","
		"\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
		"\"role\":\"eng\",\"reservation\":{\"principal\":\"p\",\"labels\":{\"labels\":[{\"key\":\"k\",\"value\":\"v\"}]}}}]}";
	const char *post = "{\"id\":{\"value\":\"O2\"},\"agent_id\":{\"value\":\"S1\"},\"hostname\":\"h\","
		"\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":2},"
		"\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\",\"principal\":\"p\",\"labels\":{\"labels\":[{\"key\":\"k\",\"value\":\"v\"}]}}]}]}";
	const char *other_label = "{\"id\":{\"value\":\"O3\"},\"agent_id\":{\"value\":\"S1\"},\"hostname\":\"h\","
		"\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":2},"
		"\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\",\"principal\":\"p\",\"labels\":{\"labels\":[{\"key\":\"k\",\"value\":\"w\"}]}}]}]}";
	cJSON *a = parse(pre), *b = parse(post), *c = parse(other_label);
	struct taskspec_offer oa, ob, oc;
	cr_assert_eq(taskspec_offer_parse(a, &oa, NULL, 0), 0);
	cr_assert_eq(taskspec_offer_parse(b, &ob, NULL, 0), 0);
	cr_assert_eq(taskspec_offer_parse(c, &oc, NULL, 0), 0);
	cr_assert_eq(oa.nres, 1);
	cr_assert_str_eq(oa.res[0].kind, ob.res[0].kind);
	cr_assert_str_neq(ob.res[0].kind, oc.res[0].kind, "labels are part of the kind");
	taskspec_offer_free(&oa);
	taskspec_offer_free(&ob);
	taskspec_offer_free(&oc);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
}

Test(taskspec, malformed_offers_refused)
{
	static const char *const bad[] = {
		"[]",
		"{\"agent_id\":{\"value\":\"S\"},\"hostname\":\"h\"}",
		"{\"id\":{\"value\":\"O\"},\"hostname\":\"h\"}",
		"{\"id\":{\"value\":\"O\"},\"agent_id\":{\"value\":\"S\"}}",
		"{\"id\":{\"value\":\"a/b\"},\"agent_id\":{\"value\":\"S\"},\"hostname\":\"h\"}",
		"{\"id\":{\"value\":\"O\"},\"agent_id\":{\"value\":\"S\"},\"hostname\":\"h\\n\"}",
		"{\"id\":{\"value\":\"O\"},\"agent_id\":{\"value\":\"S\"},\"hostname\":\"h\",\"resources\":{}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cJSON *j = parse(bad[i]);
		struct taskspec_offer o;
		char err[200] = "";
		cr_assert_eq(taskspec_offer_parse(j, &o, err, sizeof err), QM_EINVAL,
			     "case %zu accepted", i);
		cr_assert_neq(err[0], '\0');
		taskspec_offer_free(&o);
		cJSON_Delete(j);
	}
}

/* ---- fitting -------------------------------------------------------- */

static const char plain_offer[] =
	"{\"id\":{\"value\":\"O1\"},\"agent_id\":{\"value\":\"S1\"},\"hostname\":\"node-1\","
	"\"allocation_info\":{\"role\":\"quobyte\"},\"resources\":["
	"{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}},"
	"{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":10240},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}},"
	"{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1000},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}},"
	"{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":7861,\"end\":7863},{\"begin\":31000,\"end\":31009}]},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}}]}";

static void parse_plain(cJSON **j, struct taskspec_offer *o)
{
	*j = parse(plain_offer);
	cr_assert_eq(taskspec_offer_parse(*j, o, NULL, 0), 0);
}

/* Sum of a resource name in a fit's resources, milli-units. */
static long long fit_scalar(const struct taskspec_fit *f, const char *name)
{
	long long m = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, f->resources)
		if (strcmp(str_at(e, "name"), name) == 0)
			m += (long long)(num_at(at(e, "scalar"), "value") * 1000 + 0.5);
	return m;
}

Test(taskspec, fit_basic)
{
	cJSON *j;
	struct taskspec_offer o;
	parse_plain(&j, &o);
	struct taskspec_request r = {.cpus_milli = 1500, .mem_milli = 4096000,
				     .disk_milli = 0, .nports = 2};
	r.ports[0].preferred = 7861;
	r.ports[1].preferred = 7871;   /* not offered: falls back */
	struct taskspec_fit f;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	cr_assert_eq(f.nports, 2);
	cr_assert_eq(f.ports[0], 7861);
	cr_assert_eq(f.ports[1], 7862, "lowest free port, got %u", f.ports[1]);
	cr_assert_eq(fit_scalar(&f, "cpus"), 1500);
	cr_assert_eq(fit_scalar(&f, "mem"), 4096000);
	cr_assert_eq(fit_scalar(&f, "disk"), 0, "no disk asked, none used");
	cr_assert_eq(cJSON_GetArraySize(f.resources), 3);

	/* shapes: reservation fields copied, ports as one merged range */
	const cJSON *e;
	bool saw_ports = false;
	cJSON_ArrayForEach(e, f.resources) {
		cr_assert_str_eq(str_at(e, "role"), "*");
		cr_assert_str_eq(str_at(at(e, "allocation_info"), "role"), "quobyte");
		check_schema(e, "Resource", "resource");
		if (strcmp(str_at(e, "name"), "ports") == 0) {
			saw_ports = true;
			cr_assert_str_eq(str_at(e, "type"), "RANGES");
			const cJSON *rg = at(at(e, "ranges"), "range");
			cr_assert_eq(cJSON_GetArraySize(rg), 1);
			cr_assert_eq(num_at(cJSON_GetArrayItem(rg, 0), "begin"), 7861);
			cr_assert_eq(num_at(cJSON_GetArrayItem(rg, 0), "end"), 7862);
		}
	}
	cr_assert(saw_ports);
	cr_assert_eq(taskspec_offer_left(&o, "cpus", TASKSPEC_RES_ANY), 2500);
	cr_assert_eq(taskspec_offer_left(&o, "ports", TASKSPEC_RES_ANY), 11);
	taskspec_fit_fini(&f);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(taskspec, fit_does_not_fit_takes_nothing)
{
	cJSON *j;
	struct taskspec_offer o;
	parse_plain(&j, &o);
	struct taskspec_fit f;

	struct taskspec_request big = {.cpus_milli = 4001, .mem_milli = 1000};
	cr_assert(!taskspec_offer_take(&o, &big, &f));
	cr_assert_null(f.resources);
	cr_assert_str_eq(f.reason, "cpus: need 4.001, 4 left");

	struct taskspec_request strict = {.cpus_milli = 100, .nports = 1};
	strict.ports[0].preferred = 8080;
	strict.ports[0].required = true;
	cr_assert(!taskspec_offer_take(&o, &strict, &f));
	cr_assert(strstr(f.reason, "8080"), "%s", f.reason);

	struct taskspec_request many = {.cpus_milli = 100, .nports = 4};
	struct taskspec_request empty = {0};
	cr_assert(!taskspec_offer_take(&o, &empty, &f));
	cr_assert(strstr(f.reason, "empty"), "%s", f.reason);

	/* nothing was taken by the failures */
	cr_assert_eq(taskspec_offer_left(&o, "cpus", TASKSPEC_RES_ANY), 4000);
	cr_assert_eq(taskspec_offer_left(&o, "ports", TASKSPEC_RES_ANY), 13);

	/* 13 ports: three tasks of 4 fit, the fourth does not */
	for (int i = 0; i < 3; i++) {
		cr_assert(taskspec_offer_take(&o, &many, &f), "%d: %s", i, f.reason);
		taskspec_fit_fini(&f);
	}
	cr_assert_eq(taskspec_offer_left(&o, "ports", TASKSPEC_RES_ANY), 1);
	cr_assert(!taskspec_offer_take(&o, &many, &f));
	cr_assert(strstr(f.reason, "ports"), "%s", f.reason);
	cr_assert_eq(taskspec_offer_left(&o, "ports", TASKSPEC_RES_ANY), 1);
	cr_assert_eq(taskspec_offer_left(&o, "cpus", TASKSPEC_RES_ANY), 3700);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(taskspec, several_tasks_in_one_offer)
{
	cJSON *j;
	struct taskspec_offer o;
	parse_plain(&j, &o);
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	/* registry, metadata, data on one node: 1 cpu + 2/4/4 GiB each */
	struct taskspec_request reqs[4];
	taskspec_request_for(&c, SERVICE_REGISTRY, &reqs[0]);
	taskspec_request_for(&c, SERVICE_METADATA, &reqs[1]);
	taskspec_request_for(&c, SERVICE_DATA, &reqs[2]);
	taskspec_request_for(&c, SERVICE_API, &reqs[3]);
	cr_assert_eq(reqs[0].nports, 2);
	cr_assert_eq(reqs[0].ports[0].preferred, 7861);
	cr_assert_eq(reqs[0].ports[1].preferred, 7871);
	cr_assert(!reqs[0].ports[0].required);
	struct taskspec_fit fits[4];
	/* mem: 2048 + 4096 + 4096 = 10240 = all; api (1024) no longer fits */
	cr_assert_eq(taskspec_offer_take_all(&o, reqs, 4, fits), 3);
	cr_assert_not_null(fits[0].resources);
	cr_assert_not_null(fits[1].resources);
	cr_assert_not_null(fits[2].resources);
	cr_assert_null(fits[3].resources);
	cr_assert(strstr(fits[3].reason, "mem"), "%s", fits[3].reason);
	/* each got its preferred rpc port; http ports fell back to 31000.. */
	cr_assert_eq(fits[0].ports[0], 7861);
	cr_assert_eq(fits[1].ports[0], 7862);
	cr_assert_eq(fits[2].ports[0], 7863);
	cr_assert_eq(fits[0].ports[1], 31000);
	cr_assert_eq(fits[1].ports[1], 31001);
	cr_assert_eq(fits[2].ports[1], 31002);
	cr_assert_eq(taskspec_offer_left(&o, "cpus", TASKSPEC_RES_ANY), 1000);
	cr_assert_eq(taskspec_offer_left(&o, "mem", TASKSPEC_RES_ANY), 0);
	for (int i = 0; i < 4; i++)
		taskspec_fit_fini(&fits[i]);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(taskspec, strict_ports_require_configured_numbers)
{
	cJSON *j;
	struct taskspec_offer o;
	parse_plain(&j, &o);
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	c.strict_ports = true;
	struct taskspec_request r;
	taskspec_request_for(&c, SERVICE_REGISTRY, &r);
	struct taskspec_fit f;
	cr_assert(!taskspec_offer_take(&o, &r, &f), "7871 is not offered");
	cr_assert(strstr(f.reason, "7871"), "%s", f.reason);
	cr_assert_eq(taskspec_offer_left(&o, "ports", TASKSPEC_RES_ANY), 13);
	c.svc[SERVICE_REGISTRY].http_port = 31005;
	taskspec_request_for(&c, SERVICE_REGISTRY, &r);
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	cr_assert_eq(f.ports[0], 7861);
	cr_assert_eq(f.ports[1], 31005);
	taskspec_fit_fini(&f);
	/* the same ports a second time: taken */
	cr_assert(!taskspec_offer_take(&o, &r, &f));
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(taskspec, reserved_before_unreserved)
{
	cJSON *j;
	struct taskspec_offer o;
	parse_mixed(&j, &o);
	struct taskspec_fit f;

	/* 1.5 cpus: the 1.0 reserved first, then 0.5 unreserved */
	struct taskspec_request r = {.cpus_milli = 1500, .mem_milli = 512000,
				     .nports = 1};
	r.ports[0].preferred = 0;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	int n = cJSON_GetArraySize(f.resources);
	cr_assert_eq(n, 4, "cpus x2, mem, ports: %d", n);
	const cJSON *c0 = cJSON_GetArrayItem(f.resources, 0);
	const cJSON *c1 = cJSON_GetArrayItem(f.resources, 1);
	cr_assert_str_eq(str_at(c0, "name"), "cpus");
	cr_assert_str_eq(str_at(c0, "role"), "quobyte");
	cr_assert_str_eq(str_at(at(c0, "reservation"), "principal"), "qc");
	cr_assert_eq(num_at(at(c0, "scalar"), "value"), 1.0);
	cr_assert_str_eq(str_at(c1, "name"), "cpus");
	cr_assert_str_eq(str_at(c1, "role"), "*");
	cr_assert_null(cJSON_GetObjectItem(c1, "reservation"));
	cr_assert_eq(num_at(at(c1, "scalar"), "value"), 0.5);
	/* mem: first reserved kind (static, pre-refinement) */
	const cJSON *m = cJSON_GetArrayItem(f.resources, 2);
	cr_assert_str_eq(str_at(m, "role"), "quobyte");
	cr_assert_null(cJSON_GetObjectItem(m, "reservations"));
	/* the only free port of the reserved kind comes first */
	cr_assert_eq(f.ports[0], 7861);
	const cJSON *pe = cJSON_GetArrayItem(f.resources, 3);
	cr_assert_str_eq(str_at(pe, "role"), "quobyte");
	taskspec_fit_fini(&f);

	/* post-refinement mem keeps its reservations stack verbatim */
	struct taskspec_request rm = {.mem_milli = 4096000 - 512000 + 1000000};
	cr_assert(taskspec_offer_take(&o, &rm, &f), "%s", f.reason);
	const cJSON *e;
	bool saw_stack = false;
	cJSON_ArrayForEach(e, f.resources) {
		const cJSON *st = cJSON_GetObjectItem(e, "reservations");
		if (st) {
			saw_stack = true;
			cr_assert_null(cJSON_GetObjectItem(e, "role"),
				       "formats must not be mixed");
			cr_assert_str_eq(str_at(cJSON_GetArrayItem(st, 0), "principal"), "qc");
		}
	}
	cr_assert(saw_stack);
	taskspec_fit_fini(&f);

	/* RESERVED only: 0.25 cpus left unreserved, 0 reserved */
	struct taskspec_request rr = {.cpus_milli = 100,
				      .reservation = TASKSPEC_RES_RESERVED};
	cr_assert(!taskspec_offer_take(&o, &rr, &f));
	rr.reservation = TASKSPEC_RES_UNRESERVED;
	cr_assert(taskspec_offer_take(&o, &rr, &f), "%s", f.reason);
	taskspec_fit_fini(&f);
	/* revocable and MOUNT disk were never used */
	cr_assert_eq(taskspec_offer_left(&o, "cpus", TASKSPEC_RES_ANY), 150);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(taskspec, fit_reserve_both_formats)
{
	const char *txt =
		"{\"id\":{\"value\":\"O\"},\"agent_id\":{\"value\":\"S\"},\"hostname\":\"h\","
		"\"allocation_info\":{\"role\":\"quobyte\"},\"resources\":["
		"{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"role\":\"*\",\"allocation_info\":{\"role\":\"quobyte\"}},"
		"{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":100},\"allocation_info\":{\"role\":\"quobyte\"}},"
		"{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":100},\"allocation_info\":{\"role\":\"quobyte\"},"
		" \"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"quobyte\",\"principal\":\"qc\"}]}]}";
	cJSON *j = parse(txt);
	struct taskspec_offer o;
	cr_assert_eq(taskspec_offer_parse(j, &o, NULL, 0), 0);
	struct taskspec_request r = {.cpus_milli = 500, .mem_milli = 50000,
				     .disk_milli = 10000};
	struct taskspec_fit f;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	cJSON *reserve = NULL;
	cr_assert_eq(taskspec_fit_reserve(&f, "*", "qc", &reserve), QM_EINVAL);
	cr_assert_eq(taskspec_fit_reserve(&f, "quobyte", "qc", &reserve), 0);
	cr_assert_not_null(reserve);
	cr_assert_eq(cJSON_GetArraySize(reserve), 2, "disk was reserved already");
	/* pre-refinement cpus: role + reservation */
	const cJSON *c = cJSON_GetArrayItem(reserve, 0);
	cr_assert_str_eq(str_at(c, "name"), "cpus");
	cr_assert_str_eq(str_at(c, "role"), "quobyte");
	cr_assert_str_eq(str_at(at(c, "reservation"), "principal"), "qc");
	cr_assert_null(cJSON_GetObjectItem(c, "reservations"));
	/* post-refinement mem: a DYNAMIC entry pushed */
	const cJSON *m = cJSON_GetArrayItem(reserve, 1);
	cr_assert_null(cJSON_GetObjectItem(m, "role"));
	const cJSON *st = at(m, "reservations");
	cr_assert_eq(cJSON_GetArraySize(st), 1);
	cr_assert_str_eq(str_at(cJSON_GetArrayItem(st, 0), "type"), "DYNAMIC");
	cr_assert_str_eq(str_at(cJSON_GetArrayItem(st, 0), "role"), "quobyte");
	cr_assert_str_eq(str_at(at(m, "allocation_info"), "role"), "quobyte");
	/* the task's own resources now name the reservation too */
	char *a = cJSON_PrintUnformatted(cJSON_GetArrayItem(f.resources, 0));
	char *b = cJSON_PrintUnformatted(c);
	cr_assert_str_eq(a, b);
	free(a);
	free(b);
	/* reserving again: nothing left unreserved */
	cJSON *again = NULL;
	cr_assert_eq(taskspec_fit_reserve(&f, "quobyte", "qc", &again), 0);
	cr_assert_null(again);
	cJSON_Delete(reserve);
	taskspec_fit_fini(&f);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

/* ---- TaskInfo builders ---------------------------------------------- */

struct built {
	cJSON *offer_json;
	struct taskspec_offer offer;
	struct taskspec_fit fit;
	cJSON *task;
};

static void fit_for(struct built *b, const struct taskspec_config *c,
		    enum service s)
{
	memset(b, 0, sizeof *b);
	parse_plain(&b->offer_json, &b->offer);
	struct taskspec_request r;
	taskspec_request_for(c, s, &r);
	r.mem_milli = 1000000; /* small so every service fits the test offer */
	cr_assert(taskspec_offer_take(&b->offer, &r, &b->fit), "%s", b->fit.reason);
}

static void built_free(struct built *b)
{
	cJSON_Delete(b->task);
	taskspec_fit_fini(&b->fit);
	taskspec_offer_free(&b->offer);
	cJSON_Delete(b->offer_json);
}

Test(taskspec, config_defaults_validate)
{
	struct taskspec_config c;
	char err[256] = "";
	taskspec_config_defaults(&c);
	cr_assert_eq(taskspec_config_validate(&c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.svc[SERVICE_REGISTRY].port, 7861);
	cr_assert_eq(c.svc[SERVICE_DATA].http_port, 7873);
	cr_assert_eq(c.svc[SERVICE_API].port, 7860);
	cr_assert_eq(c.svc[SERVICE_WEBCONSOLE].port, 8080);
	cr_assert_eq(c.svc[SERVICE_CLIENT].http_port, 55000);
	c.image = "Quobyte:3";
	cr_assert_eq(taskspec_config_validate(&c, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "Quobyte:3"), "%s", err);
	taskspec_config_defaults(&c);
	c.svc[SERVICE_DATA].http_port = 7863;
	cr_assert_eq(taskspec_config_validate(&c, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "data"), "%s", err);
	taskspec_config_defaults(&c);
	c.prober_mode = TASKSPEC_PROBER_FETCH;
	c.prober_uri = "ftp://x/y";
	cr_assert_eq(taskspec_config_validate(&c, err, sizeof err), QM_EINVAL);
	c.prober_uri = "http://coord:8000/prober";
	cr_assert_eq(taskspec_config_validate(&c, err, sizeof err), 0, "%s", err);
}

Test(taskspec, data_service_task)
{
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	c.extra_service_config = "test.device_dir=/var/lib/quobyte/devices";
	struct built b;
	fit_for(&b, &c, SERVICE_DATA);
	const char *dirs[] = {"/mnt/disk1", "/mnt/disk2"};
	struct taskspec_service_params p = {
		.service = SERVICE_DATA,
		.task_id = "quobyte-data.node-1.00000000000000aa",
		.agent_id = "S1",
		.hostname = "node-1",
		.version = "3.0.1",
		.registry = "node-1:7861,node-2:7861",
		.host_ip = "10.0.0.11",
		.device_dirs = dirs,
		.ndevice_dirs = 2,
		.fit = &b.fit,
	};
	char err[256] = "";
	cr_assert_eq(taskspec_service_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	const cJSON *t = b.task;
	check_schema(t, "TaskInfo", "task");

	cr_assert_str_eq(str_at(t, "name"), "quobyte-data.node-1");
	cr_assert_str_eq(str_at(at(t, "task_id"), "value"), p.task_id);
	cr_assert_str_eq(str_at(at(t, "agent_id"), "value"), "S1");
	cr_assert_eq(cJSON_GetArraySize(at(t, "resources")),
		     cJSON_GetArraySize(b.fit.resources));

	/* command: no shell, no command string at all */
	const cJSON *cmd = at(t, "command");
	cr_assert(cJSON_IsFalse(at(cmd, "shell")));
	cr_assert_null(cJSON_GetObjectItem(cmd, "value"));
	cr_assert_null(cJSON_GetObjectItem(cmd, "arguments"));
	cr_assert_str_eq(env(t, "QUOBYTE_SERVICE"), "data");
	cr_assert_str_eq(env(t, "QUOBYTE_REGISTRY"), "node-1:7861,node-2:7861");
	cr_assert_str_eq(env(t, "QUOBYTE_RPC_PORT"), "7863");
	cr_assert_str_eq(env(t, "QUOBYTE_HTTP_PORT"), "31000");
	cr_assert_str_eq(env(t, "QUOBYTE_MAX_MEM_DATA"), "3072m", "3/4 of 4096 MB");
	cr_assert_str_eq(env(t, "QUOBYTE_EXTRA_SERVICE_CONFIG"),
			 "test.device_dir=/var/lib/quobyte/devices");
	cr_assert_str_eq(env(t, "HOST_IP"), "10.0.0.11");
	cr_assert_str_eq(env(t, "HOST"), "node-1");
	cr_assert_null(env(t, "QUOBYTE_API_PORT"));
	cr_assert_null(env(t, "QUOBYTE_MOUNT_POINT"));

	/* container */
	const cJSON *ct = at(t, "container");
	cr_assert_str_eq(str_at(ct, "type"), "DOCKER");
	const cJSON *dk = at(ct, "docker");
	cr_assert_str_eq(str_at(dk, "image"), "quay.io/quobyte/quobyte-server:3.0.1");
	cr_assert_str_eq(str_at(dk, "network"), "HOST");
	cr_assert(cJSON_IsTrue(at(dk, "privileged")));
	cr_assert(cJSON_IsFalse(at(dk, "force_pull_image")));
	cr_assert_str_eq(param(dk, "volume", 0), "/mnt/disk1:/mnt/disk1:rw,rshared");
	cr_assert_str_eq(param(dk, "volume", 1), "/mnt/disk2:/mnt/disk2:rw,rshared");
	cr_assert_null(param(dk, "pid", 0));
	const cJSON *v = volume(ct, "/dev");
	cr_assert_not_null(v);
	cr_assert_str_eq(str_at(v, "host_path"), "/dev");
	cr_assert_str_eq(str_at(v, "mode"), "RW");
	v = volume(ct, "/lib/modules");
	cr_assert_not_null(v);
	cr_assert_str_eq(str_at(v, "mode"), "RO");
	cr_assert_not_null(volume(ct, "/sys/bus"));
	cr_assert_null(volume(ct, "/mnt/disk1"), "propagation goes through parameters");

	/* health check on the status port actually allocated */
	const cJSON *hc = at(t, "health_check");
	cr_assert_str_eq(str_at(hc, "type"), "HTTP");
	cr_assert_eq(num_at(at(hc, "http"), "port"), 31000);
	cr_assert_str_eq(str_at(at(hc, "http"), "path"), "/");
	cr_assert_str_eq(str_at(at(hc, "http"), "scheme"), "http");
	cr_assert_eq(num_at(hc, "delay_seconds"), 15);
	cr_assert_eq(num_at(hc, "interval_seconds"), 10);
	cr_assert_eq(num_at(hc, "timeout_seconds"), 20);
	cr_assert_eq(num_at(hc, "consecutive_failures"), 3);
	cr_assert_eq(num_at(hc, "grace_period_seconds"), 300);

	/* int64 as an exact, unquoted number (1.4/1.5 refuse quoted ones) */
	assert_int64_token(at(at(t, "kill_policy"), "grace_period"), "nanoseconds",
			   "30000000000");

	cr_assert_str_eq(label(t, "service"), "data");
	cr_assert_str_eq(label(t, "version"), "3.0.1");
	cr_assert_str_eq(label(t, "hostname"), "node-1");

	const cJSON *d = at(t, "discovery");
	cr_assert_str_eq(str_at(d, "visibility"), "FRAMEWORK");
	cr_assert_str_eq(str_at(d, "name"), "quobyte-data");
	const cJSON *ports = at(at(d, "ports"), "ports");
	cr_assert_eq(cJSON_GetArraySize(ports), 2);
	cr_assert_eq(num_at(cJSON_GetArrayItem(ports, 0), "number"), 7863);
	cr_assert_str_eq(str_at(cJSON_GetArrayItem(ports, 0), "name"), "rpc");
	cr_assert_eq(num_at(cJSON_GetArrayItem(ports, 1), "number"), 31000);
	cr_assert_str_eq(str_at(cJSON_GetArrayItem(ports, 1), "name"), "http");

	/* no shell anywhere in the document */
	char *text = cJSON_PrintUnformatted(t);
	cr_assert_null(strstr(text, "\"shell\":true"));
	cr_assert_null(strstr(text, "/bin/sh"));
	free(text);
	built_free(&b);
}

Test(taskspec, api_and_client_tasks)
{
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	c.shared_propagation = false;
	struct built b;
	char err[256] = "";

	fit_for(&b, &c, SERVICE_API);
	struct taskspec_service_params p = {
		.service = SERVICE_API, .task_id = "quobyte-api.node-1.0000000000000001",
		.agent_id = "S1", .hostname = "node-1", .version = "3.0",
		.registry = "registry.quobyte.local", .fit = &b.fit,
	};
	cr_assert_eq(taskspec_service_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	check_schema(b.task, "TaskInfo", "task");
	/* no status port: a TCP check on the port the API serves on */
	const cJSON *hc = at(b.task, "health_check");
	cr_assert_str_eq(str_at(hc, "type"), "TCP");
	cr_assert_eq(num_at(at(hc, "tcp"), "port"), 31000);
	cr_assert_null(cJSON_GetObjectItem(hc, "http"));
	cr_assert_str_eq(env(b.task, "QUOBYTE_API_PORT"), "31000",
			 "7860 is not offered: lowest free");
	cr_assert_null(env(b.task, "QUOBYTE_RPC_PORT"));
	cr_assert_null(env(b.task, "HOST_IP"));
	cr_assert_str_eq(env(b.task, "QUOBYTE_MAX_MEM_API"), "768m");
	built_free(&b);

	fit_for(&b, &c, SERVICE_CLIENT);
	p.service = SERVICE_CLIENT;
	p.task_id = "quobyte-client.node-1.0000000000000002";
	cr_assert_eq(taskspec_service_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	check_schema(b.task, "TaskInfo", "task");
	const cJSON *dk = at(at(b.task, "container"), "docker");
	cr_assert_str_eq(param(dk, "pid", 0), "host");
	cr_assert_str_eq(param(dk, "volume", 0), "/quobyte:/quobyte:rw,rshared");
	cr_assert_str_eq(env(b.task, "QUOBYTE_MOUNT_POINT"), "/quobyte");
	cr_assert_str_eq(env(b.task, "QUOBYTE_HTTP_PORT"), "31000");
	cr_assert_null(env(b.task, "QUOBYTE_MAX_MEM_CLIENT"));
	cr_assert_eq(num_at(at(at(b.task, "health_check"), "http"), "port"), 31000);
	built_free(&b);

	/* without shared propagation device dirs are plain RW volumes */
	fit_for(&b, &c, SERVICE_REGISTRY);
	const char *dirs[] = {"/var/lib/quobyte/devices/registry"};
	p.service = SERVICE_REGISTRY;
	p.task_id = "quobyte-registry.node-1.0000000000000003";
	p.device_dirs = dirs;
	p.ndevice_dirs = 1;
	cr_assert_eq(taskspec_service_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	const cJSON *v = volume(at(b.task, "container"), dirs[0]);
	cr_assert_not_null(v);
	cr_assert_str_eq(str_at(v, "mode"), "RW");
	cr_assert_str_eq(str_at(v, "host_path"), dirs[0]);
	cr_assert_null(param(at(at(b.task, "container"), "docker"), "volume", 0));
	built_free(&b);
}

Test(taskspec, service_task_rejects_bad_input)
{
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	struct built b;
	fit_for(&b, &c, SERVICE_DATA);
	const char *evil_dir[] = {"/mnt/x:/etc:rw"};
	struct taskspec_service_params good = {
		.service = SERVICE_DATA, .task_id = "quobyte-data.h.0000000000000001",
		.agent_id = "S1", .hostname = "h", .version = "3.0",
		.registry = "h:7861", .fit = &b.fit,
	};
	struct taskspec_service_params p;
	char err[256];
	cJSON *t;

	p = good; p.version = "3.0;reboot";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	cr_assert_null(t);
	cr_assert(strstr(err, "version"), "%s", err);
	p = good; p.version = "$(id)";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.registry = "h:7861;$(reboot)";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.registry = "";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.host_ip = "1.2.3.4 x";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.device_dirs = evil_dir; p.ndevice_dirs = 1;
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.task_id = "a/b";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.hostname = "h\nX=1";
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.service = SERVICE_PROBER;
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good; p.service = SERVICE_API;  /* fit has 2 ports, api wants 1 */
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "ports"), "%s", err);
	struct taskspec_fit nofit = {0};
	p = good; p.fit = &nofit;
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p = good;
	cr_assert_eq(taskspec_service_task(&c, &p, &t, err, sizeof err), 0, "%s", err);
	cJSON_Delete(t);
	built_free(&b);
}

static const char cred[] =
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

Test(taskspec, prober_command_task)
{
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	c.prober_user = "root";
	struct built b;
	fit_for(&b, &c, SERVICE_PROBER);
	cr_assert_eq(fit_scalar(&b.fit, "cpus"), 100);
	const char *args[] = {"--log-level", "debug"};
	struct taskspec_prober_params p = {
		.task_id = "quobyte-prober.node-1.0000000000000001",
		.agent_id = "S1", .hostname = "node-1",
		.coordinator_url = "tcp://coord:7990", .credential_hex = cred,
		.device_dirs = "/var/lib/quobyte/devices",
		.args = args, .nargs = 2, .fit = &b.fit,
	};
	char err[256] = "";
	cr_assert_eq(taskspec_prober_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	const cJSON *t = b.task;
	check_schema(t, "TaskInfo", "task");
	cr_assert_null(cJSON_GetObjectItem(t, "container"));
	cr_assert_null(cJSON_GetObjectItem(t, "health_check"));
	const cJSON *cmd = at(t, "command");
	cr_assert(cJSON_IsFalse(at(cmd, "shell")));
	cr_assert_str_eq(str_at(cmd, "value"), "/usr/local/bin/quobyte-prober");
	cr_assert_str_eq(str_at(cmd, "user"), "root");
	const cJSON *a = at(cmd, "arguments");
	cr_assert_eq(cJSON_GetArraySize(a), 3);
	cr_assert_str_eq(cJSON_GetArrayItem(a, 0)->valuestring, "quobyte-prober");
	cr_assert_str_eq(cJSON_GetArrayItem(a, 1)->valuestring, "--log-level");
	cr_assert_str_eq(cJSON_GetArrayItem(a, 2)->valuestring, "debug");
	cr_assert_str_eq(env(t, "QUOBYTE_PROBER_COORDINATOR"), "tcp://coord:7990");
	cr_assert_str_eq(env(t, "QUOBYTE_PROBER_AGENT_ID"), "S1");
	cr_assert_str_eq(env(t, "QUOBYTE_PROBER_HOSTNAME"), "node-1");
	cr_assert_str_eq(env(t, "QUOBYTE_PROBER_CREDENTIAL"), cred);
	cr_assert_str_eq(env(t, "QUOBYTE_PROBER_DEVICE_DIRS"), "/var/lib/quobyte/devices");
	cr_assert_null(env(t, "QUOBYTE_PROBER_DEVICE_ROOTS"));
	cr_assert_null(env(t, "QUOBYTE_PROBER_CLIENT_MOUNT_POINT"));
	cr_assert_null(env(t, "QUOBYTE_PROBER_HOST_ROOT")); /* a host process */
	cr_assert_str_eq(label(t, "service"), "prober");
	assert_int64_token(at(at(t, "kill_policy"), "grace_period"), "nanoseconds",
			   "10000000000");
	built_free(&b);
}

Test(taskspec, prober_fetch_and_docker_tasks)
{
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	c.prober_mode = TASKSPEC_PROBER_FETCH;
	c.prober_uri = "http://coord:8000/v1/prober";
	struct built b;
	fit_for(&b, &c, SERVICE_PROBER);
	struct taskspec_prober_params p = {
		.task_id = "quobyte-prober.node-1.0000000000000002",
		.agent_id = "S1", .hostname = "node-1",
		.coordinator_url = "tls+tcp://coord:7990", .credential_hex = cred,
		.device_roots = "/,/srv", .client_mount_point = "/quobyte",
		.fit = &b.fit,
	};
	char err[256] = "";
	cr_assert_eq(taskspec_prober_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	check_schema(b.task, "TaskInfo", "task");
	const cJSON *cmd = at(b.task, "command");
	cr_assert(cJSON_IsFalse(at(cmd, "shell")));
	cr_assert_str_eq(str_at(cmd, "value"), "./quobyte-prober");
	const cJSON *u = cJSON_GetArrayItem(at(cmd, "uris"), 0);
	cr_assert_str_eq(str_at(u, "value"), "http://coord:8000/v1/prober");
	cr_assert(cJSON_IsTrue(at(u, "executable")));
	cr_assert(cJSON_IsFalse(at(u, "extract")));
	cr_assert(cJSON_IsFalse(at(u, "cache")));
	cr_assert_str_eq(str_at(u, "output_file"), "quobyte-prober");
	cr_assert_eq(cJSON_GetArraySize(at(cmd, "arguments")), 1);
	cr_assert_str_eq(env(b.task, "QUOBYTE_PROBER_DEVICE_ROOTS"), "/,/srv");
	cr_assert_str_eq(env(b.task, "QUOBYTE_PROBER_CLIENT_MOUNT_POINT"), "/quobyte");
	cJSON_Delete(b.task);
	b.task = NULL;

	c.prober_mode = TASKSPEC_PROBER_DOCKER;
	c.prober_image = "registry.local:5000/quobyte-mesos:1.2.0";
	cr_assert_eq(taskspec_prober_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	check_schema(b.task, "TaskInfo", "task");
	cmd = at(b.task, "command");
	cr_assert(cJSON_IsFalse(at(cmd, "shell")));
	cr_assert_null(cJSON_GetObjectItem(cmd, "value"));
	cr_assert_null(cJSON_GetObjectItem(cmd, "uris"));
	const cJSON *ct = at(b.task, "container");
	const cJSON *dk = at(ct, "docker");
	cr_assert_str_eq(str_at(dk, "image"), "registry.local:5000/quobyte-mesos:1.2.0");
	cr_assert_str_eq(param(dk, "entrypoint", 0), "/usr/local/bin/quobyte-prober");
	cr_assert_str_eq(param(dk, "pid", 0), "host");
	cr_assert_str_eq(param(dk, "user", 0), "0"); /* root, whatever the image says */
	cr_assert_str_eq(str_at(volume(ct, "/run/udev"), "mode"), "RO");
	cr_assert_str_eq(env(b.task, "QUOBYTE_PROBER_CREDENTIAL"), cred);
	/* without it the prober would see only the container's own mounts */
	cr_assert_str_eq(env(b.task, "QUOBYTE_PROBER_HOST_ROOT"), "/proc/1/root");
	cJSON_Delete(b.task);
	b.task = NULL;
	c.prober_host_root = "/proc/4242/root";
	cr_assert_eq(taskspec_prober_task(&c, &p, &b.task, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(env(b.task, "QUOBYTE_PROBER_HOST_ROOT"), "/proc/4242/root");
	cJSON_Delete(b.task);
	b.task = NULL;
	c.prober_host_root = "proc/1/root";
	cr_assert_eq(taskspec_prober_task(&c, &p, &b.task, err, sizeof err), QM_EINVAL);
	cr_assert_null(b.task);
	c.prober_host_root = "/proc/1/root";

	/* bad inputs */
	cJSON *t;
	p.credential_hex = "abc";
	cr_assert_eq(taskspec_prober_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p.credential_hex = cred;
	p.coordinator_url = "coord 7990";
	cr_assert_eq(taskspec_prober_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	p.coordinator_url = "tcp://coord:7990";
	c.prober_image = "quobyte-mesos";  /* no tag */
	cr_assert_eq(taskspec_prober_task(&c, &p, &t, err, sizeof err), QM_EINVAL);
	cr_assert_null(t);
	built_free(&b);
}

Test(resources, operator_list_applies_and_rejects_with_the_item_named)
{
	struct taskspec_config c;
	char err[160] = "";
	taskspec_config_defaults(&c);
	cr_assert_eq(taskspec_parse_resources("data:2:8192,metadata:0.5:1024", &c, err,
					      sizeof err), 0, "%s", err);
	cr_assert_eq(c.svc[SERVICE_DATA].cpus_milli, 2000);
	cr_assert_eq(c.svc[SERVICE_DATA].mem_mb, 8192);
	cr_assert_eq(c.svc[SERVICE_METADATA].cpus_milli, 500);
	cr_assert_eq(c.svc[SERVICE_METADATA].mem_mb, 1024);

	struct taskspec_config before = c;
	const char *bad[] = { "data", "data:1", "disk:1:100", "data:0:100", "data:1:10",
			      "data:1:1.5", "data:x:100", "data:1.2345:100", "data:1:100,api" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		cr_assert_eq(taskspec_parse_resources(bad[i], &c, err, sizeof err), QM_EINVAL,
			     "%s accepted", bad[i]);
		cr_assert(err[0], "no message for %s", bad[i]);
		cr_assert(memcmp(&before.svc, &c.svc, sizeof c.svc) == 0, "%s changed c", bad[i]);
	}
	cr_assert_eq(taskspec_parse_resources(NULL, &c, err, sizeof err), 0);
}
