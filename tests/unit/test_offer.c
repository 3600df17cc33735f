/* Tests of core/offer.c and core/fit.c. */
#include "core/taskspec.h"
#include "qm_error.h"
#include "taskspec_check.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* An OFFERS event read whole (taskspec_offers_parse, the coordinator's
 * prepare step): good offers in order with their JSON, malformed ones with
 * why, and what is past the cap left unread. */
Test(taskspec, offers_of_an_event)
{
	cJSON *ev = parse("{\"type\":\"OFFERS\",\"offers\":{\"offers\":["
			  "{\"id\":{\"value\":\"O1\"},\"agent_id\":{\"value\":\"S1\"},\"hostname\":\"h1\"},"
			  "{\"id\":{\"value\":\"O2\"},\"hostname\":\"h2\"},"
			  "{\"id\":{\"value\":\"O3\"},\"agent_id\":{\"value\":\"S3\"},\"hostname\":\"h3\"},"
			  "{\"id\":{\"value\":\"O4\"},\"agent_id\":{\"value\":\"S4\"},\"hostname\":\"h4\"},"
			  "{\"id\":{\"value\":\"O5\"}}]}}");
	struct taskspec_offers *b = taskspec_offers_parse(ev, 3);
	cr_assert_eq(b->n, 5, "every offer of the event is counted");
	cr_assert_eq(b->nok, 2);
	cr_assert_str_eq(b->ok[0].id, "O1");
	cr_assert_str_eq(b->ok[1].id, "O3");
	cr_assert_eq(b->ok_json[1], cJSON_GetArrayItem(at(at(ev, "offers"), "offers"), 2),
		     "each good offer keeps its JSON");
	cr_assert_eq(b->nbad, 1);
	cr_assert_str_eq(cJSON_GetObjectItem(b->bad[0].json, "id")->child->valuestring, "O2");
	cr_assert(strstr(b->bad[0].err, "agent_id"), "why: %s", b->bad[0].err);
	cr_assert_not_null(b->over, "the 4th offer is past a cap of 3");
	cr_assert_str_eq(cJSON_GetObjectItem(b->over, "id")->child->valuestring, "O4");
	cr_assert_not_null(b->over->next, "and the rest follow it");
	taskspec_offers_free(b);

	b = taskspec_offers_parse(ev, 100);
	cr_assert_eq(b->nok, 3);
	cr_assert_eq(b->nbad, 2);
	cr_assert_null(b->over);
	/* an entry emptied by its taker (a launch slice) is nothing to free */
	struct taskspec_offer taken = b->ok[0];
	memset(&b->ok[0], 0, sizeof b->ok[0]);
	taskspec_offers_free(b);
	cr_assert_str_eq(taken.id, "O1");
	taskspec_offer_free(&taken);

	cJSON *none = parse("{\"type\":\"OFFERS\",\"offers\":{}}");
	b = taskspec_offers_parse(none, 100);
	cr_assert_eq(b->n, 0);
	cr_assert_eq(b->nok + b->nbad, 0);
	taskspec_offers_free(b);
	cJSON_Delete(none);
	cJSON_Delete(ev);
}

/* The maintenance window an offer carries is found with the rest of its
 * fields (reserve.c reads it while the event is handled). */
Test(taskspec, an_offer_shows_its_unavailability)
{
	cJSON *ev = parse("{\"type\":\"OFFERS\",\"offers\":{\"offers\":["
			  "{\"id\":{\"value\":\"O1\"},\"agent_id\":{\"value\":\"S1\"},"
			  "\"hostname\":\"h1\",\"resources\":[],"
			  "\"unavailability\":{\"start\":{\"nanoseconds\":5000000}}},"
			  "{\"id\":{\"value\":\"O2\"},\"agent_id\":{\"value\":\"S2\"},"
			  "\"hostname\":\"h2\"}]}}");
	struct taskspec_offers *b = taskspec_offers_parse(ev, 10);
	cr_assert_eq(b->nok, 2);
	cr_assert_not_null(b->ok[0].unavailability);
	cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(b->ok[0].unavailability, "start"),
					 "nanoseconds")->valuedouble, 5000000);
	cr_assert_null(b->ok[1].unavailability);
	cr_assert_str_eq(b->ok[1].role, "", "no allocation_info: no role");
	taskspec_offer_own_json(&b->ok[0]);
	cr_assert_null(b->ok[0].unavailability, "not kept past the event");
	taskspec_offers_free(b);
	cJSON_Delete(ev);
}

/* An offer kept past its event (a launch slice whose event is not in an
 * arena of its own) needs its JSON only for its resources' entries
 * (own_json copies them); ids, hostname, role and what was read of the
 * resources are its pool's from the start. Under ASan a pointer left into
 * the deleted event is a use after free. */
Test(taskspec, an_owned_offer_outlives_its_event)
{
	cJSON *ev = parse(offers_event);
	struct taskspec_offer o;
	char err[256] = "";
	cr_assert_eq(taskspec_offer_parse(first_offer(ev), &o, err, sizeof err), 0, "%s", err);
	cr_assert_neq(o.agent_id,
		      cJSON_GetObjectItem(cJSON_GetObjectItem(first_offer(ev), "agent_id"),
					  "value")->valuestring,
		      "the agent id is a copy");
	taskspec_offer_own_json(&o);
	taskspec_offer_own_json(&o); /* twice: the copies stay */
	cJSON_Delete(ev);
	cr_assert_str_eq(o.id, "M-O17");
	cr_assert_str_eq(o.agent_id, "M-S3");
	cr_assert_str_eq(o.hostname, "node-3");
	cr_assert_str_eq(o.role, "quobyte");
	const struct taskspec_resource *cpus = find_res(&o, "cpus", NULL);
	cr_assert_not_null(cpus);
	cJSON *t = taskspec_resource_offered(cpus);
	char *text = cJSON_PrintUnformatted(t);
	cr_assert(strstr(text, "\"name\":\"cpus\""), "%s", text);
	free(text);
	cJSON_Delete(t);
	taskspec_offer_free(&o);
	cr_assert_null(o.id, "freed: emptied");
}

/* The offers of one event share a pool: one moved out of the event's
 * batch (a launch slice, answered by id after the event and its batch are
 * gone) stays whole, and a fit that splits its free ports grows them
 * outside the pool. Under ASan a piece freed with the batch, or a pool
 * piece freed alone, is an error. */
Test(taskspec, an_offer_taken_from_its_event_outlives_both)
{
	cJSON *ev = parse(offers_event);
	struct taskspec_offers *b = taskspec_offers_parse(ev, 10);
	cr_assert_eq(b->nok, 1);
	struct taskspec_offer o = b->ok[0];
	memset(&b->ok[0], 0, sizeof b->ok[0]); /* emptied: moved */
	taskspec_offers_free(b);
	taskspec_offer_own_json(&o); /* a fit reads the resources' entries */
	cJSON_Delete(ev);
	cr_assert_str_eq(o.id, "M-O17");
	cr_assert_str_eq(o.agent_id, "M-S3");
	cr_assert_str_eq(o.hostname, "node-3");
	cr_assert_str_eq(o.role, "quobyte");
	cr_assert_str_eq(taskspec_offer_attr(&o, "rack"), "r12");
	const struct taskspec_resource *ports = find_res(&o, "ports", NULL);
	cr_assert_not_null(ports);
	cr_assert_eq(ports->nfree, 1);
	/* port 31500 splits 31000-32000 in two */
	struct taskspec_request r = {.cpus_milli = 100, .nports = 1};
	r.ports[0].preferred = 31500;
	struct taskspec_fit f;
	cr_assert(taskspec_offer_take(&o, &r, &f), "%s", f.reason);
	cr_assert_eq(f.ports[0], 31500);
	taskspec_fit_fini(&f);
	cr_assert_eq(ports->nfree, 2);
	cr_assert(ports->free_heap, "grown outside the pool");
	cr_assert_eq(ports->free[0].end, 31499);
	cr_assert_eq(ports->free[1].begin, 31501);
	cr_assert_eq(ports->free[1].end, 32000);
	taskspec_offer_free(&o);
}

/* ---- fitting -------------------------------------------------------- */

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
	cr_assert_eq(taskspec_fit_reserve(&f, "*", "qc", NULL, &reserve), QM_EINVAL);
	cr_assert_eq(taskspec_fit_reserve(&f, "quobyte", "qc", NULL, &reserve), 0);
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
	cr_assert_eq(taskspec_fit_reserve(&f, "quobyte", "qc", NULL, &again), 0);
	cr_assert_null(again);
	cJSON_Delete(reserve);
	taskspec_fit_fini(&f);
	taskspec_offer_free(&o);
	cJSON_Delete(j);
}
