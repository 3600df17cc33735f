/* Tests of reservations labeled ours (issue 10): core/rsv.c, the labeled
 * and MOUNT kinds of core/offer.c, per-service fitting and labeled RESERVE
 * in core/fit.c, and RESERVE/UNRESERVE operations in core/launch.c. */
#include "core/launch.h"
#include "core/rsv.h"
#include "core/taskspec.h"
#include "qm_error.h"
#include "taskspec_check.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW "qm-test"
#define AI "\"allocation_info\":{\"role\":\"quobyte\"}"
/* labels of ours, for service S, framework F */
#define LBL(F, S)                                                                  \
	"\"labels\":{\"labels\":[{\"key\":\"quobyte-mesos.framework\",\"value\":\"" F \
	"\"},{\"key\":\"quobyte-mesos.service\",\"value\":\"" S "\"}]}"
#define PRE(F, S) "\"role\":\"quobyte\",\"reservation\":{\"principal\":\"qc\"," LBL(F, S) "}"
#define POST(F, S) \
	"\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"quobyte\",\"principal\":\"qc\"," LBL(F, S) "}]"
#define SCALAR(N, V, R) "{\"name\":\"" N "\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" V "}," AI "," R "}"
#define MOUNT(V, ROOT, R)                                                              \
	"{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" V "}," AI "," R \
	",\"disk\":{\"source\":{\"type\":\"MOUNT\",\"mount\":{\"root\":\"" ROOT "\"}}}}"
#define UNRES_PRE "\"role\":\"*\""
#define UNRES_POST "\"reservations\":[]"

static cJSON *offer_json(const char *resources)
{
	size_t n = strlen(resources) + 256;
	char *t = malloc(n);
	snprintf(t, n,
		 "{\"id\":{\"value\":\"O\"},\"agent_id\":{\"value\":\"S\"},\"hostname\":\"h\","
		 AI ",\"resources\":[%s]}", resources);
	cJSON *j = parse(t);
	free(t);
	return j;
}

static void offer_from(const char *resources, cJSON **j, struct taskspec_offer *o)
{
	char err[256] = "";
	*j = offer_json(resources);
	cr_assert_eq(taskspec_offer_parse(*j, o, err, sizeof err), 0, "%s", err);
}

/* The labels' service value of a fit entry (its current reservation), ""
 * when it has none of ours, NULL when unreserved. */
static const char *entry_service(const cJSON *e)
{
	const cJSON *cur = NULL;
	const cJSON *st = cJSON_GetObjectItem(e, "reservations");
	if (cJSON_GetArraySize(st) > 0)
		cur = cJSON_GetArrayItem(st, cJSON_GetArraySize(st) - 1);
	else if (cJSON_GetObjectItem(e, "reservation"))
		cur = cJSON_GetObjectItem(e, "reservation");
	else if (cJSON_GetObjectItem(e, "role") &&
		 strcmp(str_at(e, "role"), "*") != 0)
		return "";
	if (!cur)
		return NULL;
	const cJSON *it;
	cJSON_ArrayForEach(it, at(at(cur, "labels"), "labels"))
		if (strcmp(str_at(it, "key"), RSV_LABEL_SERVICE) == 0)
			return str_at(it, "value");
	return "";
}

static int64_t entry_milli(const cJSON *e)
{
	return (int64_t)(num_at(at(e, "scalar"), "value") * 1000 + 0.5);
}

Test(rsv, labels_object)
{
	cJSON *l = rsv_labels(FW, SERVICE_DATA);
	cr_assert_not_null(l);
	char *s = cJSON_PrintUnformatted(l);
	cr_assert_str_eq(s, "{\"labels\":[{\"key\":\"quobyte-mesos.framework\",\"value\":\"qm-test\"},"
			    "{\"key\":\"quobyte-mesos.service\",\"value\":\"data\"}]}");
	check_schema(l, "Labels", "labels");
	free(s);
	cJSON_Delete(l);
	cr_assert_null(rsv_labels("", SERVICE_DATA));
	cr_assert_null(rsv_labels(NULL, SERVICE_DATA));
	cr_assert_null(rsv_labels("a\nb", SERVICE_DATA));
	cr_assert_null(rsv_labels(FW, SERVICE_COUNT));
	char big[RSV_VALUE_MAX + 2];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	cr_assert_null(rsv_labels(big, SERVICE_DATA));
	big[RSV_VALUE_MAX] = '\0';
	l = rsv_labels(big, SERVICE_DATA);
	cr_assert_not_null(l);
	cJSON_Delete(l);
}

Test(rsv, labels_parsed_in_both_formats)
{
	cJSON *j;
	struct taskspec_offer o;
	offer_from(SCALAR("cpus", "1", PRE(FW, "data")) ","
		   SCALAR("mem", "512", POST(FW, "metadata")) ","
		   /* refined stack: the labels of the last (current) one count */
		   "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":5}," AI ","
		   "\"reservations\":[{\"type\":\"STATIC\",\"role\":\"quobyte\"},"
		   "{\"type\":\"DYNAMIC\",\"role\":\"quobyte/x\"," LBL("other", "prober") "}]},"
		   /* other labels only, and keys of ours on a lower reservation */
		   SCALAR("cpus", "2", "\"role\":\"quobyte\",\"reservation\":{\"labels\":{\"labels\":[{\"key\":\"k\"}]}}") ","
		   "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":7}," AI ","
		   "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"quobyte\"," LBL(FW, "data") "},"
		   "{\"type\":\"DYNAMIC\",\"role\":\"quobyte/y\"}]},"
		   SCALAR("cpus", "3", UNRES_PRE) ","
		   MOUNT("1000", "/srv/q/d1", POST(FW, "data")) ","
		   MOUNT("2000", "/srv/q/d2", UNRES_PRE),
		   &j, &o);
	cr_assert_eq(o.skipped, 0, "%s", o.skip_reason);
	cr_assert_eq(o.nres, 8);
	const struct taskspec_resource *r = &o.res[0];
	cr_assert_str_eq(r->rsv_framework, FW);
	cr_assert_str_eq(r->rsv_service, "data");
	cr_assert(!r->refinement);
	cr_assert_null(r->mount_root);
	r = &o.res[1];
	cr_assert_str_eq(r->rsv_framework, FW);
	cr_assert_str_eq(r->rsv_service, "metadata");
	cr_assert(r->refinement);
	r = &o.res[2];
	cr_assert_str_eq(r->rsv_framework, "other");
	cr_assert_str_eq(r->rsv_service, "prober");
	cr_assert_str_eq(r->role, "quobyte/x");
	cr_assert_null(o.res[3].rsv_framework);
	cr_assert_null(o.res[3].rsv_service);
	cr_assert_null(o.res[4].rsv_framework, "only the current reservation's labels");
	cr_assert_null(o.res[5].rsv_framework);
	r = &o.res[6];
	cr_assert_str_eq(r->mount_root, "/srv/q/d1");
	cr_assert_str_eq(r->rsv_service, "data");
	cr_assert(!r->fittable);
	cr_assert_eq(r->milli, 1000000);
	cr_assert_str_eq(o.res[7].mount_root, "/srv/q/d2");
	cr_assert_null(o.res[7].role);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(rsv, not_a_plain_mount_disk)
{
	cJSON *j;
	struct taskspec_offer o;
	offer_from(/* persistent volume on a MOUNT disk */
		   "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":9}," AI "," POST(FW, "data") ","
		   "\"disk\":{\"persistence\":{\"id\":\"v\"},\"volume\":{\"container_path\":\"d\",\"mode\":\"RW\"},"
		   "\"source\":{\"type\":\"MOUNT\",\"mount\":{\"root\":\"/srv/q/d1\"}}}},"
		   /* PATH disk, MOUNT without a root, shared, from a provider */
		   "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":9}," AI "," UNRES_PRE ","
		   "\"disk\":{\"source\":{\"type\":\"PATH\",\"path\":{\"root\":\"/srv/q/d1\"}}}},"
		   "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":9}," AI "," UNRES_PRE ","
		   "\"disk\":{\"source\":{\"type\":\"MOUNT\"}}},"
		   "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":8}," AI "," UNRES_PRE ",\"shared\":{},"
		   "\"disk\":{\"source\":{\"type\":\"MOUNT\",\"mount\":{\"root\":\"/srv/q/d1\"}}}},"
		   "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":7}," AI "," UNRES_PRE ",\"provider_id\":{\"value\":\"P\"},"
		   "\"disk\":{\"source\":{\"type\":\"MOUNT\",\"mount\":{\"root\":\"/srv/q/d1\"}}}}",
		   &j, &o);
	cr_assert_eq(o.skipped, 0, "%s", o.skip_reason);
	cr_assert_eq(o.nres, 5);
	for (size_t i = 0; i < o.nres; i++) {
		cr_assert_null(o.res[i].mount_root, "kind %zu", i);
		cr_assert(!o.res[i].fittable);
	}
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(rsv, malformed_labels_skip_the_resource)
{
	static const struct {
		const char *labels, *why;
	} bad[] = {
		{"[]", "not {"},
		{"{\"labels\":{}}", "not {"},
		{"{\"labels\":[{\"value\":\"v\"}]}", "not {key"},
		{"{\"labels\":[{\"key\":1}]}", "not {key"},
		{"{\"labels\":[{\"key\":\"k\",\"value\":2}]}", "not {key"},
		{"{\"labels\":[\"k\"]}", "not {key"},
		{"{\"labels\":[{\"key\":\"quobyte-mesos.framework\",\"value\":\"a\"},"
		 "{\"key\":\"quobyte-mesos.service\",\"value\":\"data\"},"
		 "{\"key\":\"quobyte-mesos.framework\",\"value\":\"a\"}]}", "twice"},
		{"{\"labels\":[{\"key\":\"quobyte-mesos.service\",\"value\":\"data\"},"
		 "{\"key\":\"quobyte-mesos.service\",\"value\":\"prober\"},"
		 "{\"key\":\"quobyte-mesos.framework\",\"value\":\"a\"}]}", "twice"},
		{"{\"labels\":[{\"key\":\"quobyte-mesos.framework\",\"value\":\"a\"}]}", "without"},
		{"{\"labels\":[{\"key\":\"quobyte-mesos.service\",\"value\":\"data\"}]}", "without"},
		{"{\"labels\":[{\"key\":\"quobyte-mesos.framework\",\"value\":\"a\"},"
		 "{\"key\":\"quobyte-mesos.service\",\"value\":\"database\"}]}", "no service"},
		{"{\"labels\":[{\"key\":\"quobyte-mesos.framework\"},"
		 "{\"key\":\"quobyte-mesos.service\",\"value\":\"data\"}]}", "usable value"},
		{"{\"labels\":[{\"key\":\"quobyte-mesos.framework\",\"value\":\"a\\u0001\"},"
		 "{\"key\":\"quobyte-mesos.service\",\"value\":\"data\"}]}", "usable value"},
		{"{\"labels\":[{\"key\":\"quobyte-mesos.framework\",\"value\":\"@LONG@\"},"
		 "{\"key\":\"quobyte-mesos.service\",\"value\":\"data\"}]}", "usable value"},
	};
	char longv[RSV_VALUE_MAX + 2];
	memset(longv, 'f', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		for (int post = 0; post < 2; post++) {
			char lab[1024], res[2048];
			const char *at_long = strstr(bad[i].labels, "@LONG@");
			if (at_long)
				snprintf(lab, sizeof lab, "%.*s%s%s", (int)(at_long - bad[i].labels),
					 bad[i].labels, longv, at_long + 6);
			else
				snprintf(lab, sizeof lab, "%s", bad[i].labels);
			if (post)
				snprintf(res, sizeof res,
					 SCALAR("mem", "1", "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"quobyte\",\"labels\":%s}]")
					 "," SCALAR("cpus", "1", UNRES_PRE), lab);
			else
				snprintf(res, sizeof res,
					 SCALAR("mem", "1", "\"role\":\"quobyte\",\"reservation\":{\"labels\":%s}")
					 "," SCALAR("cpus", "1", UNRES_PRE), lab);
			cJSON *j;
			struct taskspec_offer o;
			offer_from(res, &j, &o);
			cr_assert_eq(o.skipped, 1, "case %zu/%d not skipped", i, post);
			cr_assert(strstr(o.skip_reason, bad[i].why), "case %zu/%d: %s", i, post,
				  o.skip_reason);
			cr_assert(strstr(o.skip_reason, "mem"), "%s", o.skip_reason);
			cr_assert_eq(o.nres, 1, "the rest of the offer stays");
			taskspec_offer_free(&o);
			cJSON_Delete(j);
		}
	}
	/* the longest value that is fine, and labels without ours */
	char res[2048];
	longv[RSV_VALUE_MAX] = '\0';
	snprintf(res, sizeof res,
		 SCALAR("mem", "1", "\"role\":\"quobyte\",\"reservation\":{\"labels\":{\"labels\":["
			"{\"key\":\"quobyte-mesos.framework\",\"value\":\"%s\"},"
			"{\"key\":\"quobyte-mesos.service\",\"value\":\"client\"},{\"key\":\"x\"}]}}") ","
		 SCALAR("cpus", "1", "\"role\":\"quobyte\",\"reservation\":{\"labels\":{\"labels\":[]}}") ","
		 SCALAR("disk", "1", "\"role\":\"quobyte\",\"reservation\":{\"labels\":null}"),
		 longv);
	cJSON *j;
	struct taskspec_offer o;
	offer_from(res, &j, &o);
	cr_assert_eq(o.skipped, 0, "%s", o.skip_reason);
	cr_assert_str_eq(o.res[0].rsv_framework, longv);
	cr_assert_str_eq(o.res[0].rsv_service, "client");
	cr_assert_null(o.res[1].rsv_framework);
	cr_assert_null(o.res[2].rsv_framework);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

/* cpus of every kind an agent may hold for our role: ours for data, ours
 * for metadata, another framework name's for data, a static reservation,
 * unreserved. */
static const char kinds_offer[] =
	SCALAR("cpus", "0.5", UNRES_PRE) ","
	SCALAR("cpus", "1", PRE(FW, "metadata")) ","
	SCALAR("cpus", "1", PRE("qm-other", "data")) ","
	SCALAR("cpus", "0.25", "\"role\":\"quobyte\"") ","
	SCALAR("cpus", "1", PRE(FW, "data")) ","
	SCALAR("mem", "4096", UNRES_PRE) ","
	SCALAR("mem", "2048", PRE(FW, "data"));

Test(rsv, data_uses_its_reservation_first_never_another)
{
	cJSON *j;
	struct taskspec_offer o;
	offer_from(kinds_offer, &j, &o);
	struct taskspec_request r = {.cpus_milli = 1750, .mem_milli = 3072000,
				     .service = SERVICE_DATA, .rsv_framework = FW};
	struct taskspec_fit f;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	/* cpus: 1 of data's reservation, 0.25 static, 0.5 unreserved;
	 * mem: 2048 of data's, 1024 unreserved */
	cr_assert_eq(cJSON_GetArraySize(f.resources), 5);
	const cJSON *e;
	static const struct {
		const char *name, *svc;
		int64_t milli;
	} want[] = {{"cpus", "data", 1000}, {"cpus", "", 250}, {"cpus", NULL, 500},
		    {"mem", "data", 2048000}, {"mem", NULL, 1024000}};
	size_t i = 0;
	cJSON_ArrayForEach(e, f.resources) {
		const char *svc = entry_service(e);
		cr_assert_str_eq(str_at(e, "name"), want[i].name, "entry %zu", i);
		if (want[i].svc)
			cr_assert_str_eq(svc, want[i].svc, "entry %zu", i);
		else
			cr_assert_null(svc, "entry %zu", i);
		cr_assert_eq(entry_milli(e), want[i].milli, "entry %zu", i);
		check_schema(e, "Resource", "resource");
		i++;
	}
	taskspec_fit_fini(&f);
	/* what is left is never enough: metadata's and the other framework's
	 * 2 cpus are not for data */
	r.mem_milli = 0;
	r.cpus_milli = 100;
	cr_assert(!taskspec_offer_take(&o, &r, &f));
	cr_assert_str_eq(f.reason, "cpus: need 0.1, 0 left");
	/* metadata gets its own */
	r.service = SERVICE_METADATA;
	r.cpus_milli = 1000;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	cr_assert_eq(cJSON_GetArraySize(f.resources), 1);
	cr_assert_str_eq(entry_service(cJSON_GetArrayItem(f.resources, 0)), "metadata");
	taskspec_fit_fini(&f);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(rsv, without_a_framework_name_labels_are_ignored)
{
	cJSON *j;
	struct taskspec_offer o;
	offer_from(kinds_offer, &j, &o);
	struct taskspec_request r = {.cpus_milli = 3750, .service = SERVICE_DATA};
	struct taskspec_fit f;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	cr_assert_eq(taskspec_offer_left(&o, "cpus", TASKSPEC_RES_ANY), 0);
	taskspec_fit_fini(&f);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(rsv, prober_request_uses_its_own_reservation)
{
	cJSON *j;
	struct taskspec_offer o;
	offer_from(SCALAR("cpus", "4", UNRES_POST) ","
		   SCALAR("cpus", "0.1", POST(FW, "prober")) ","
		   SCALAR("mem", "8192", UNRES_POST) ","
		   SCALAR("mem", "64", POST(FW, "prober")) ","
		   SCALAR("mem", "64", POST(FW, "client")),
		   &j, &o);
	struct taskspec_config c;
	taskspec_config_defaults(&c);
	struct taskspec_request r;
	taskspec_request_for(&c, SERVICE_PROBER, &r);
	cr_assert_eq(r.service, SERVICE_PROBER);
	cr_assert_null(r.rsv_framework);
	r.rsv_framework = FW;
	struct taskspec_fit f;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	const cJSON *first_cpus = NULL, *first_mem = NULL, *e;
	cJSON_ArrayForEach(e, f.resources) {
		const char *svc = entry_service(e);
		cr_assert(!svc || strcmp(svc, "prober") == 0, "%s", svc);
		if (!first_cpus && strcmp(str_at(e, "name"), "cpus") == 0)
			first_cpus = e;
		if (!first_mem && strcmp(str_at(e, "name"), "mem") == 0)
			first_mem = e;
	}
	cr_assert_not_null(first_cpus);
	cr_assert_not_null(first_mem);
	cr_assert_str_eq(entry_service(first_cpus), "prober");
	cr_assert_str_eq(entry_service(first_mem), "prober");
	taskspec_fit_fini(&f);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

/* Reserve what a fit took beyond its reservation: the RESERVE holds only
 * the unreserved parts, with our labels, in the format each was offered
 * in; offered again, the new reservation is the same kind as the old. */
static void check_top_up(bool post)
{
	char res[2048];
	snprintf(res, sizeof res, "%s,%s,%s,%s",
		 post ? SCALAR("cpus", "0.5", POST(FW, "data")) : SCALAR("cpus", "0.5", PRE(FW, "data")),
		 post ? SCALAR("cpus", "4", UNRES_POST) : SCALAR("cpus", "4", UNRES_PRE),
		 post ? SCALAR("mem", "4096", UNRES_POST) : SCALAR("mem", "4096", UNRES_PRE),
		 post ? "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":7860,\"end\":7880}]}," AI "}"
		      : "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":7860,\"end\":7880}]}," AI "," UNRES_PRE "}");
	cJSON *j;
	struct taskspec_offer o;
	offer_from(res, &j, &o);
	struct taskspec_request r = {.cpus_milli = 1000, .mem_milli = 1024000,
				     .nports = 1, .service = SERVICE_DATA,
				     .rsv_framework = FW};
	r.ports[0].preferred = 7873;
	struct taskspec_fit f;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	cJSON *labels = rsv_labels(FW, SERVICE_DATA);
	cJSON *reserve = NULL;
	cr_assert_eq(taskspec_fit_reserve(&f, "quobyte", "qc", labels, &reserve), 0);
	cr_assert_not_null(reserve);
	cr_assert_eq(cJSON_GetArraySize(reserve), 3, "cpus 0.5, mem, ports; not the reserved 0.5");
	const cJSON *e;
	cJSON_ArrayForEach(e, reserve) {
		check_schema(e, "Resource", "reserve");
		cr_assert_str_eq(entry_service(e), "data");
		cr_assert_str_eq(str_at(at(e, "allocation_info"), "role"), "quobyte");
		if (post) {
			cr_assert_null(cJSON_GetObjectItem(e, "role"));
			cr_assert_null(cJSON_GetObjectItem(e, "reservation"));
			const cJSON *st = at(e, "reservations");
			cr_assert_eq(cJSON_GetArraySize(st), 1);
			const cJSON *g = cJSON_GetArrayItem(st, 0);
			cr_assert_str_eq(str_at(g, "type"), "DYNAMIC");
			cr_assert_str_eq(str_at(g, "role"), "quobyte");
			cr_assert_str_eq(str_at(g, "principal"), "qc");
		} else {
			cr_assert_null(cJSON_GetObjectItem(e, "reservations"));
			cr_assert_str_eq(str_at(e, "role"), "quobyte");
			const cJSON *g = at(e, "reservation");
			cr_assert_null(cJSON_GetObjectItem(g, "type"), "not in Resource.reservation");
			cr_assert_null(cJSON_GetObjectItem(g, "role"), "not in Resource.reservation");
			cr_assert_str_eq(str_at(g, "principal"), "qc");
		}
	}
	cr_assert_eq(entry_milli(cJSON_GetArrayItem(reserve, 0)), 500);
	cr_assert_str_eq(str_at(cJSON_GetArrayItem(reserve, 2), "name"), "ports");

	/* The next offer: the old reservation plus what the RESERVE made
	 * merge into one kind per name. */
	char *old = cJSON_PrintUnformatted(cJSON_GetArrayItem(at(j, "resources"), 0));
	char *made = cJSON_PrintUnformatted(reserve);
	size_t n = strlen(old) + strlen(made) + 8;
	char *again = malloc(n);
	snprintf(again, n, "%s,%.*s", old, (int)strlen(made) - 2, made + 1);
	cJSON *j2;
	struct taskspec_offer o2;
	offer_from(again, &j2, &o2);
	cr_assert_eq(o2.skipped, 0, "%s", o2.skip_reason);
	cr_assert_eq(o2.nres, 3, "cpus, mem, ports");
	cr_assert_eq(o2.res[0].milli, 1000);
	for (size_t i = 0; i < o2.nres; i++) {
		cr_assert_str_eq(o2.res[i].rsv_service, "data");
		cr_assert_eq(o2.res[i].refinement, post);
	}
	taskspec_offer_free(&o2);
	cJSON_Delete(j2);
	free(again);
	free(old);
	free(made);

	/* a second reserve finds nothing unreserved */
	cJSON *none = NULL;
	cr_assert_eq(taskspec_fit_reserve(&f, "quobyte", "qc", labels, &none), 0);
	cr_assert_null(none);
	cJSON_Delete(labels);
	cJSON_Delete(reserve);
	taskspec_fit_fini(&f);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(rsv, reserve_tops_up_pre_refinement)
{
	check_top_up(false);
}

Test(rsv, reserve_tops_up_post_refinement)
{
	check_top_up(true);
}

Test(rsv, reserve_refuses_bad_arguments)
{
	cJSON *j;
	struct taskspec_offer o;
	offer_from(SCALAR("cpus", "1", UNRES_PRE), &j, &o);
	struct taskspec_request r = {.cpus_milli = 100, .rsv_framework = FW};
	struct taskspec_fit f;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	cJSON *reserve = NULL, *arr = cJSON_CreateArray();
	cr_assert_eq(taskspec_fit_reserve(&f, "*", NULL, NULL, &reserve), QM_EINVAL);
	cr_assert_eq(taskspec_fit_reserve(&f, "quobyte", "a\nb", NULL, &reserve), QM_EINVAL);
	cr_assert_eq(taskspec_fit_reserve(&f, "quobyte", NULL, arr, &reserve), QM_EINVAL);
	cr_assert_null(reserve);
	/* no principal, no labels: a bare reservation */
	cr_assert_eq(taskspec_fit_reserve(&f, "quobyte", NULL, NULL, &reserve), 0);
	const cJSON *e = cJSON_GetArrayItem(reserve, 0);
	cr_assert_str_eq(str_at(e, "role"), "quobyte");
	cr_assert_eq(cJSON_GetArraySize(at(e, "reservation")), 0);
	cJSON_Delete(reserve);
	cJSON_Delete(arr);
	taskspec_fit_fini(&f);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(rsv, mount_disks_taken_whole_when_asked_and_reserved)
{
	cJSON *j;
	struct taskspec_offer o;
	offer_from(SCALAR("cpus", "4", UNRES_POST) ","
		   SCALAR("disk", "100", UNRES_POST) ","
		   MOUNT("1000.5", "/srv/q/d1", UNRES_POST) ","
		   MOUNT("2000", "/srv/q/d2", POST(FW, "data")) ","
		   MOUNT("3000", "/srv/q/d3", POST(FW, "metadata")) ","
		   MOUNT("4000", "/srv/q/d4", UNRES_POST),
		   &j, &o);
	static const char *const roots[] = {"/srv/q/d1/", "/srv/q/d2", "/srv/q/d3",
					    "/srv/q/d9", "/srv/q/d1"};
	struct taskspec_request r = {.cpus_milli = 1000, .disk_milli = 10000,
				     .service = SERVICE_DATA, .rsv_framework = FW,
				     .mount_roots = roots, .n_mount_roots = 5};
	struct taskspec_fit f;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	/* d1 (trailing '/' aside) and d2 (data's); not metadata's d3, not the
	 * absent d9, not d4 (not asked), d1 not twice */
	cr_assert_eq(f.n_mounts, 2);
	cr_assert_str_eq(f.mounts[0], "/srv/q/d1");
	cr_assert_str_eq(f.mounts[1], "/srv/q/d2");
	cr_assert_eq(cJSON_GetArraySize(f.resources), 4);
	const cJSON *d1 = cJSON_GetArrayItem(f.resources, 2);
	const cJSON *d2 = cJSON_GetArrayItem(f.resources, 3);
	cr_assert_eq(num_at(at(d1, "scalar"), "value"), 1000.5, "whole");
	cr_assert_str_eq(str_at(at(at(at(d1, "disk"), "source"), "mount"), "root"), "/srv/q/d1");
	cr_assert_eq(entry_milli(d2), 2000000);
	cr_assert_str_eq(entry_service(d2), "data");
	/* the plain disk came from the plain kind */
	cr_assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(f.resources, 1), "disk"));

	/* a second task asking for d1 does not get it again */
	struct taskspec_fit f2;
	r.disk_milli = 0;
	cr_assert(taskspec_offer_take(&o, &r, &f2), "%s", f2.reason);
	cr_assert_eq(f2.n_mounts, 0);
	cr_assert_eq(cJSON_GetArraySize(f2.resources), 1);
	taskspec_fit_fini(&f2);

	/* not asked: never taken */
	struct taskspec_request plain = {.cpus_milli = 100, .disk_milli = 1000,
					 .service = SERVICE_DATA, .rsv_framework = FW};
	cr_assert(taskspec_offer_take(&o, &plain, &f2), "%s", f2.reason);
	cr_assert_eq(f2.n_mounts, 0);
	const cJSON *e;
	cJSON_ArrayForEach(e, f2.resources)
		cr_assert_null(cJSON_GetObjectItem(e, "disk"));
	taskspec_fit_fini(&f2);

	/* RESERVE: the unreserved cpus, disk and d1 (whole, its source kept) */
	cJSON *labels = rsv_labels(FW, SERVICE_DATA), *reserve = NULL;
	cr_assert_eq(taskspec_fit_reserve(&f, "quobyte", "qc", labels, &reserve), 0);
	cr_assert_eq(cJSON_GetArraySize(reserve), 3);
	const cJSON *rd1 = cJSON_GetArrayItem(reserve, 2);
	cr_assert_eq(num_at(at(rd1, "scalar"), "value"), 1000.5);
	cr_assert_str_eq(str_at(at(at(rd1, "disk"), "source"), "type"), "MOUNT");
	cr_assert_str_eq(entry_service(rd1), "data");
	/* the task launches on the reservation */
	char *a = cJSON_PrintUnformatted(rd1);
	char *b = cJSON_PrintUnformatted(cJSON_GetArrayItem(f.resources, 2));
	cr_assert_str_eq(a, b);
	free(a);
	free(b);
	cJSON_Delete(labels);
	cJSON_Delete(reserve);
	taskspec_fit_fini(&f);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}

Test(rsv, operations_reserve_then_launch)
{
	cJSON *reserve = cJSON_CreateArray();
	cJSON_AddItemToArray(reserve, cJSON_CreateString("R"));
	cJSON *tis = cJSON_CreateArray();
	cJSON_AddItemToArray(tis, cJSON_CreateString("T"));
	cJSON *ops = launch_operations_reserve(reserve, tis);
	char *s = cJSON_PrintUnformatted(ops);
	cr_assert_str_eq(s, "[{\"type\":\"RESERVE\",\"reserve\":{\"resources\":[\"R\"]}},"
			    "{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[\"T\"]}}]");
	free(s);
	cJSON_Delete(ops);
	ops = launch_operations_reserve(NULL, cJSON_CreateArray());
	s = cJSON_PrintUnformatted(ops);
	cr_assert_str_eq(s, "[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[]}}]");
	free(s);
	cJSON_Delete(ops);
}

Test(rsv, unreserve_names_exactly_our_kinds_of_the_service)
{
	cJSON *j;
	struct taskspec_offer o;
	offer_from(SCALAR("cpus", "1.5", PRE(FW, "data")) ","
		   SCALAR("cpus", "0.5", PRE(FW, "data")) ","
		   SCALAR("cpus", "1", PRE(FW, "metadata")) ","
		   SCALAR("cpus", "1", PRE("qm-other", "data")) ","
		   SCALAR("cpus", "1", "\"role\":\"quobyte\",\"reservation\":{\"principal\":\"qc\"}") ","
		   SCALAR("cpus", "3", UNRES_PRE) ","
		   "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":7863,\"end\":7863},"
		   "{\"begin\":7861,\"end\":7862}]}," AI "," PRE(FW, "data") "},"
		   MOUNT("500", "/srv/q/d1", PRE(FW, "data")) ","
		   /* refined: ours on top of a static reservation */
		   "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":256}," AI ","
		   "\"reservations\":[{\"type\":\"STATIC\",\"role\":\"quobyte\"},"
		   "{\"type\":\"DYNAMIC\",\"role\":\"quobyte/q\",\"principal\":\"qc\"," LBL(FW, "data") "}]}",
		   &j, &o);
	cr_assert_eq(o.skipped, 0, "%s", o.skip_reason);
	/* a fit took part of it: UNRESERVE still names the whole offered kind */
	struct taskspec_request r = {.cpus_milli = 500, .service = SERVICE_DATA,
				     .rsv_framework = FW};
	struct taskspec_fit f;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	taskspec_fit_fini(&f);

	cJSON *op = launch_unreserve_operation(&o, FW, SERVICE_DATA);
	cr_assert_not_null(op);
	cr_assert_str_eq(str_at(op, "type"), "UNRESERVE");
	const cJSON *arr = at(at(op, "unreserve"), "resources");
	cr_assert_eq(cJSON_GetArraySize(arr), 4, "cpus, ports, d1, mem");
	const cJSON *c = cJSON_GetArrayItem(arr, 0);
	cr_assert_eq(entry_milli(c), 2000, "merged, whole");
	cr_assert_str_eq(str_at(c, "role"), "quobyte");
	cr_assert_str_eq(str_at(at(c, "reservation"), "principal"), "qc");
	check_schema(c, "Resource", "unreserve");
	const cJSON *p = cJSON_GetArrayItem(arr, 1);
	check_schema(p, "Resource", "unreserve");
	const cJSON *rg = at(at(p, "ranges"), "range");
	cr_assert_eq(cJSON_GetArraySize(rg), 1);
	cr_assert_eq(num_at(cJSON_GetArrayItem(rg, 0), "begin"), 7861);
	cr_assert_eq(num_at(cJSON_GetArrayItem(rg, 0), "end"), 7863);
	const cJSON *d = cJSON_GetArrayItem(arr, 2);
	cr_assert_eq(entry_milli(d), 500000);
	cr_assert_str_eq(str_at(at(at(at(d, "disk"), "source"), "mount"), "root"), "/srv/q/d1");
	const cJSON *m = cJSON_GetArrayItem(arr, 3);
	cr_assert_eq(cJSON_GetArraySize(at(m, "reservations")), 2, "the whole stack as offered");
	for (int i = 0; i < cJSON_GetArraySize(arr); i++)
		cr_assert_str_eq(entry_service(cJSON_GetArrayItem(arr, i)), "data");
	cJSON_Delete(op);

	op = launch_unreserve_operation(&o, FW, SERVICE_METADATA);
	cr_assert_eq(cJSON_GetArraySize(at(at(op, "unreserve"), "resources")), 1);
	cJSON_Delete(op);
	cr_assert_null(launch_unreserve_operation(&o, FW, SERVICE_PROBER));
	cr_assert_null(launch_unreserve_operation(&o, "qm-third", SERVICE_DATA));
	cr_assert_null(launch_unreserve_operation(&o, NULL, SERVICE_DATA));
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}
