#include "core/taskspec.h"

#include "qm_error.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- small helpers -------------------------------------------------- */


/* cJSON returns NULL only when malloc fails (or on misuse, which would be
 * our bug): both end in the project's out-of-memory policy. */
static cJSON *ck(cJSON *x)
{
	if (!x)
		qm_oom();
	return x;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
	ck(cJSON_AddStringToObject(o, k, v));
}

static void add_num(cJSON *o, const char *k, double v)
{
	ck(cJSON_AddNumberToObject(o, k, v));
}

static void add_bool(cJSON *o, const char *k, bool v)
{
	ck(cJSON_AddBoolToObject(o, k, v));
}

static cJSON *add_obj(cJSON *o, const char *k)
{
	return ck(cJSON_AddObjectToObject(o, k));
}

static cJSON *add_arr(cJSON *o, const char *k)
{
	return ck(cJSON_AddArrayToObject(o, k));
}

static void add_id(cJSON *o, const char *k, const char *v)
{
	add_str(add_obj(o, k), "value", v);
}

static cJSON *jdup(const cJSON *x)
{
	return ck(cJSON_Duplicate(x, 1));
}

static void arr_push(cJSON *arr, cJSON *item)
{
	if (!cJSON_AddItemToArray(arr, item))
		qm_oom();
}

static void obj_put(cJSON *o, const char *k, cJSON *item)
{
	if (!cJSON_AddItemToObject(o, k, item))
		qm_oom();
}

static bool has_ctrl(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

/* Text without control characters, 1..max bytes. */
static bool text_ok(const char *s, size_t max)
{
	if (!s || !*s)
		return false;
	size_t n = strnlen(s, max + 1);
	return n <= max && !has_ctrl(s);
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* Milli-units as the shortest decimal: 1500 -> "1.5", 2000 -> "2". */
static void fmt_milli(int64_t m, char *buf, size_t cap)
{
	const char *sign = m < 0 ? "-" : "";
	uint64_t a = m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m;
	uint64_t ip = a / 1000, fp = a % 1000;
	if (fp == 0)
		snprintf(buf, cap, "%s%" PRIu64, sign, ip);
	else if (fp % 100 == 0)
		snprintf(buf, cap, "%s%" PRIu64 ".%" PRIu64, sign, ip, fp / 100);
	else if (fp % 10 == 0)
		snprintf(buf, cap, "%s%" PRIu64 ".%02" PRIu64, sign, ip, fp / 10);
	else
		snprintf(buf, cap, "%s%" PRIu64 ".%03" PRIu64, sign, ip, fp);
}

/* ---- services ------------------------------------------------------- */

/* Upper-case names for QUOBYTE_MAX_MEM_<SERVICE>. */
static const char *const service_upper[SERVICE_COUNT] = {
	"REGISTRY", "METADATA", "DATA", "API", "WEBCONSOLE", "CLIENT", "PROBER",
};

/* How the main port is announced: environment variable and discovery name.
 * The status port is always QUOBYTE_HTTP_PORT / "http". */
static const struct {
	const char *env;
	const char *name;
} main_port[SERVICE_COUNT] = {
	[SERVICE_REGISTRY] = {"QUOBYTE_RPC_PORT", "rpc"},
	[SERVICE_METADATA] = {"QUOBYTE_RPC_PORT", "rpc"},
	[SERVICE_DATA] = {"QUOBYTE_RPC_PORT", "rpc"},
	[SERVICE_API] = {"QUOBYTE_API_PORT", "api"},
	[SERVICE_WEBCONSOLE] = {"QUOBYTE_WEBCONSOLE_PORT", "web"},
	[SERVICE_CLIENT] = {"QUOBYTE_RPC_PORT", "rpc"},
	[SERVICE_PROBER] = {"QUOBYTE_PROBER_PORT", "port"},
};

/* ---- validation ----------------------------------------------------- */

bool taskspec_version_valid(const char *v)
{
	if (!v || !*v)
		return false;
	size_t n = strnlen(v, TASKSPEC_VERSION_MAX + 1);
	if (n > TASKSPEC_VERSION_MAX)
		return false;
	if (!is_alnum(v[0]) && v[0] != '_')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alnum(v[i]) && v[i] != '_' && v[i] != '.' && v[i] != '-')
			return false;
	return true;
}

/* One RFC 1123 label in [s, s+n). */
static bool label_ok(const char *s, size_t n)
{
	if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool taskspec_hostname_valid(const char *h)
{
	if (!h || !*h)
		return false;
	size_t n = strnlen(h, TASKSPEC_HOSTNAME_MAX + 1);
	if (n > TASKSPEC_HOSTNAME_MAX)
		return false;
	const char *p = h;
	for (;;) {
		const char *dot = memchr(p, '.', n - (size_t)(p - h));
		size_t len = dot ? (size_t)(dot - p) : n - (size_t)(p - h);
		if (!label_ok(p, len))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}

bool taskspec_id_valid(const char *id)
{
	if (!id || !*id)
		return false;
	if (strnlen(id, TASKSPEC_ID_MAX + 1) > TASKSPEC_ID_MAX)
		return false;
	if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return false;
	if (has_ctrl(id))
		return false;
	return !strchr(id, '/') && !strchr(id, '\\');
}

/* Registry host of an image reference: dot-separated labels of letters,
 * digits and inner '-', then an optional ":port". */
static bool image_domain_ok(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t hn = colon ? (size_t)(colon - s) : n;
	if (hn == 0)
		return false;
	const char *p = s;
	while (p < s + hn) {
		const char *dot = memchr(p, '.', hn - (size_t)(p - s));
		size_t len = dot ? (size_t)(dot - p) : hn - (size_t)(p - s);
		if (!label_ok(p, len))
			return false;
		if (!dot)
			break;
		p = dot + 1;
		if (p == s + hn)
			return false; /* trailing dot */
	}
	if (colon) {
		size_t pn = n - hn - 1;
		if (pn < 1 || pn > 5)
			return false;
		unsigned port = 0;
		for (size_t i = 0; i < pn; i++) {
			char c = colon[1 + i];
			if (c < '0' || c > '9')
				return false;
			port = port * 10 + (unsigned)(c - '0');
		}
		if (port == 0 || port > 65535)
			return false;
	}
	return true;
}

/* One path component: [a-z0-9]+ joined by '.', '_', "__" or '-'+. */
static bool image_component_ok(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0 || !is_lower_alnum(s[0]))
		return false;
	while (i < n) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i >= n || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

bool taskspec_image_valid(const char *image)
{
	if (!image || !*image)
		return false;
	size_t n = strnlen(image, TASKSPEC_IMAGE_MAX + 1);
	if (n > TASKSPEC_IMAGE_MAX)
		return false;
	const char *p = image;
	const char *slash = memchr(p, '/', n);
	if (slash) {
		size_t fn = (size_t)(slash - p);
		bool domain = memchr(p, '.', fn) || memchr(p, ':', fn) ||
			      (fn == 9 && memcmp(p, "localhost", 9) == 0);
		if (domain) {
			if (!image_domain_ok(p, fn))
				return false;
			p = slash + 1;
		}
	}
	const char *end = image + n;
	if (p >= end)
		return false;
	for (;;) {
		const char *s = memchr(p, '/', (size_t)(end - p));
		size_t len = s ? (size_t)(s - p) : (size_t)(end - p);
		if (!image_component_ok(p, len))
			return false;
		if (!s)
			return true;
		p = s + 1;
	}
}

bool taskspec_path_valid(const char *path)
{
	if (!path || path[0] != '/')
		return false;
	size_t n = strnlen(path, TASKSPEC_PATH_MAX + 1);
	if (n > TASKSPEC_PATH_MAX || has_ctrl(path))
		return false;
	if (strchr(path, ':') || strchr(path, ','))
		return false;
	if (n == 1)
		return true;
	const char *p = path + 1;
	for (;;) {
		const char *s = strchr(p, '/');
		size_t len = s ? (size_t)(s - p) : strlen(p);
		if (len == 0)
			return false; /* "//" or a trailing '/' */
		if ((len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!s)
			return true;
		p = s + 1;
	}
}

bool taskspec_role_valid(const char *role)
{
	if (!text_ok(role, TASKSPEC_ROLE_MAX) || strcmp(role, "*") == 0)
		return false;
	for (const char *c = role; *c; c++)
		if (*c == ' ' || *c == '\t' || *c == '\\')
			return false;
	const char *p = role;
	for (;;) {
		const char *s = strchr(p, '/');
		size_t len = s ? (size_t)(s - p) : strlen(p);
		if (len == 0 || p[0] == '-')
			return false;
		if ((len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!s)
			return true;
		p = s + 1;
	}
}

/* ---- task IDs ------------------------------------------------------- */

#define ID_PREFIX "quobyte-"
#define ID_SERVICE_MAX 16
/* prefix + service + '.' + host + '.' + 16 hex <= 255 */
#define ID_HOST_MAX (TASKSPEC_ID_MAX - (sizeof ID_PREFIX - 1) - ID_SERVICE_MAX - 2 - 16)

static bool service_word_ok(const char *s, size_t n)
{
	if (n == 0 || n > ID_SERVICE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return false;
	return true;
}

int taskspec_task_id(const char *service, const char *hostname,
		     uint64_t random, char *out, size_t cap)
{
	if (!service || !service_word_ok(service, strlen(service)))
		return QM_EINVAL;
	char host[ID_HOST_MAX + 1];
	size_t h = 0;
	if (hostname) {
		for (const char *c = hostname; *c && h < ID_HOST_MAX; c++) {
			bool keep = is_alnum(*c) || *c == '-' || *c == '.' ||
				    *c == '_';
			host[h++] = keep ? *c : '_';
		}
	}
	host[h] = '\0';
	int n = snprintf(out, cap, ID_PREFIX "%s.%s.%016" PRIx64, service,
			 h ? host : "unknown", random);
	if (n < 0 || (size_t)n >= cap)
		return QM_ETOOBIG;
	return 0;
}

int taskspec_task_id_parse(const char *id, char *service, size_t scap,
			   char *hostname, size_t hcap)
{
	const size_t plen = sizeof ID_PREFIX - 1;
	if (!taskspec_id_valid(id) || strncmp(id, ID_PREFIX, plen) != 0)
		return QM_EINVAL;
	const char *svc = id + plen;
	const char *dot1 = strchr(svc, '.');
	const char *dot2 = strrchr(svc, '.');
	if (!dot1 || dot2 == dot1 || dot2 - dot1 < 2)
		return QM_EINVAL;
	if (!service_word_ok(svc, (size_t)(dot1 - svc)))
		return QM_EINVAL;
	if (strlen(dot2 + 1) != 16)
		return QM_EINVAL;
	for (const char *c = dot2 + 1; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return QM_EINVAL;
	size_t sl = (size_t)(dot1 - svc), hl = (size_t)(dot2 - dot1 - 1);
	if (service) {
		if (sl >= scap)
			return QM_ETOOBIG;
		memcpy(service, svc, sl);
		service[sl] = '\0';
	}
	if (hostname) {
		if (hl >= hcap)
			return QM_ETOOBIG;
		memcpy(hostname, dot1 + 1, hl);
		hostname[hl] = '\0';
	}
	return 0;
}

/* ---- configuration -------------------------------------------------- */

void taskspec_config_defaults(struct taskspec_config *c)
{
	static const struct taskspec_service_conf svc[SERVICE_COUNT] = {
		[SERVICE_REGISTRY] = {1000, 2048, 0, 7861, 7871, 0},
		[SERVICE_METADATA] = {1000, 4096, 0, 7862, 7872, 0},
		[SERVICE_DATA] = {1000, 4096, 0, 7863, 7873, 0},
		[SERVICE_API] = {500, 1024, 0, 7860, 0, 0},
		[SERVICE_WEBCONSOLE] = {500, 1024, 0, 8080, 0, 0},
		[SERVICE_CLIENT] = {1000, 2048, 0, 0, 55000, 0},
		[SERVICE_PROBER] = {100, 64, 0, 0, 0, 0},
	};
	memset(c, 0, sizeof *c);
	c->image = "quay.io/quobyte/quobyte-server";
	c->client_mount_point = "/quobyte";
	c->shared_propagation = true;
	c->health_delay_s = 15;
	c->health_interval_s = 10;
	c->health_timeout_s = 20;
	c->health_failures = 3;
	c->health_grace_s = 300;
	c->kill_grace_ms = 30000;
	memcpy(c->svc, svc, sizeof svc);
	c->prober_mode = TASKSPEC_PROBER_COMMAND;
	c->prober_command = "/usr/local/bin/quobyte-prober";
	c->prober_image_path = "/usr/local/bin/quobyte-prober";
	c->prober_host_root = "/proc/1/root";
}

static bool is_set(const char *s)
{
	return s && *s;
}

/* "http://..." or "https://..." without blanks or control characters. */
static bool uri_ok(const char *u)
{
	if (!text_ok(u, 2048))
		return false;
	if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
		return false;
	for (const char *c = u; *c; c++)
		if (*c == ' ')
			return false;
	return true;
}

/* "name:tag" with a valid image name and tag. */
static bool image_ref_ok(const char *ref)
{
	if (!text_ok(ref, TASKSPEC_IMAGE_MAX + 1 + TASKSPEC_VERSION_MAX))
		return false;
	const char *colon = strrchr(ref, ':');
	const char *slash = strrchr(ref, '/');
	if (!colon || (slash && colon < slash))
		return false;
	char name[TASKSPEC_IMAGE_MAX + 1];
	size_t n = (size_t)(colon - ref);
	if (n > TASKSPEC_IMAGE_MAX)
		return false;
	memcpy(name, ref, n);
	name[n] = '\0';
	return taskspec_image_valid(name) && taskspec_version_valid(colon + 1);
}

int taskspec_config_validate(const struct taskspec_config *c, char *err,
			     size_t errlen)
{
	if (!taskspec_image_valid(c->image))
		return qm_fail(err, errlen, QM_EINVAL,
			    "image '%s' is not a valid Docker image name "
			    "(lower-case, no tag)", c->image ? c->image : "");
	if (is_set(c->extra_service_config) &&
	    (has_ctrl(c->extra_service_config) ||
	     strlen(c->extra_service_config) > 4096))
		return qm_fail(err, errlen, QM_EINVAL,
			    "extra service config must be one line of at most "
			    "4096 bytes without control characters");
	if (!taskspec_path_valid(c->client_mount_point))
		return qm_fail(err, errlen, QM_EINVAL,
			    "client mount point must be an absolute path "
			    "without ':' ',' '..' or control characters");
	if (is_set(c->config_host_dir) && !taskspec_path_valid(c->config_host_dir))
		return qm_fail(err, errlen, QM_EINVAL,
			    "config host dir must be an absolute path "
			    "without ':' ',' '..' or control characters");
	if (c->health_failures == 0 || c->health_interval_s == 0)
		return qm_fail(err, errlen, QM_EINVAL,
			    "health check interval and failures must be > 0");
	if (c->kill_grace_ms < 0 || c->kill_grace_ms > 3600 * 1000)
		return qm_fail(err, errlen, QM_EINVAL,
			    "kill grace period must be 0..3600 s");
	for (unsigned s = 0; s < SERVICE_COUNT; s++) {
		const struct taskspec_service_conf *v = &c->svc[s];
		const char *nm = service_name(s);
		if (v->cpus_milli <= 0 || v->cpus_milli > 1000000)
			return qm_fail(err, errlen, QM_EINVAL,
				    "%s: cpus must be > 0 and <= 1000", nm);
		if (v->mem_mb <= 0 || v->mem_mb > (1ll << 30))
			return qm_fail(err, errlen, QM_EINVAL,
				    "%s: mem must be > 0 MB", nm);
		if (v->disk_mb < 0 || v->disk_mb > (1ll << 40))
			return qm_fail(err, errlen, QM_EINVAL,
				    "%s: disk must be >= 0 MB", nm);
		if (v->port > 65535 || v->http_port > 65535)
			return qm_fail(err, errlen, QM_EINVAL,
				    "%s: ports must be 1..65535", nm);
		if (v->port && v->port == v->http_port)
			return qm_fail(err, errlen, QM_EINVAL,
				    "%s: rpc and http port are both %u", nm,
				    v->port);
		if (v->max_mem_mb > v->mem_mb)
			return qm_fail(err, errlen, QM_EINVAL,
				    "%s: max mem %lld MB exceeds the task's "
				    "%lld MB", nm, (long long)v->max_mem_mb,
				    (long long)v->mem_mb);
	}
	switch (c->prober_mode) {
	case TASKSPEC_PROBER_COMMAND:
		if (!taskspec_path_valid(c->prober_command))
			return qm_fail(err, errlen, QM_EINVAL,
				    "prober command must be an absolute path");
		break;
	case TASKSPEC_PROBER_FETCH:
		if (!uri_ok(c->prober_uri))
			return qm_fail(err, errlen, QM_EINVAL,
				    "prober URI must be an http:// or https:// "
				    "URL without blanks");
		break;
	case TASKSPEC_PROBER_DOCKER:
		if (!image_ref_ok(c->prober_image))
			return qm_fail(err, errlen, QM_EINVAL,
				    "prober image must be <name>:<tag>");
		if (!taskspec_path_valid(c->prober_image_path))
			return qm_fail(err, errlen, QM_EINVAL,
				    "prober image path must be an absolute path");
		if (!taskspec_path_valid(c->prober_host_root))
			return qm_fail(err, errlen, QM_EINVAL,
				    "prober host root must be an absolute path");
		break;
	default:
		return qm_fail(err, errlen, QM_EINVAL, "unknown prober mode");
	}
	if (is_set(c->prober_user) && !text_ok(c->prober_user, 64))
		return qm_fail(err, errlen, QM_EINVAL, "bad prober user");
	return 0;
}

/* ---- offers: parsing ------------------------------------------------ */

/* A JSON number, or a numeric string (§0: Mesos accepts both). */
static bool json_number(const cJSON *x, double *out)
{
	if (cJSON_IsNumber(x)) {
		*out = x->valuedouble;
		return true;
	}
	if (cJSON_IsString(x) && x->valuestring && *x->valuestring) {
		char *end;
		double d = strtod(x->valuestring, &end);
		if (*end == '\0') {
			*out = d;
			return true;
		}
	}
	return false;
}

static bool json_u64(const cJSON *x, uint64_t *out)
{
	double d;
	/* 2^53: beyond it a double no longer holds every integer */
	if (!json_number(x, &d) || !(d >= 0 && d <= 9007199254740992.0))
		return false;
	if ((double)(uint64_t)d != d)
		return false;
	*out = (uint64_t)d;
	return true;
}

static const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

static int range_cmp(const void *a, const void *b)
{
	const struct taskspec_range *x = a, *y = b;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Sort and merge overlapping or adjacent ranges in place. */
static void ranges_normalise(struct taskspec_range *r, size_t *n)
{
	if (*n < 2)
		return;
	qsort(r, *n, sizeof *r, range_cmp);
	size_t o = 0;
	for (size_t i = 1; i < *n; i++) {
		if (r[i].begin <= r[o].end + 1) {
			if (r[i].end > r[o].end)
				r[o].end = r[i].end;
		} else {
			r[++o] = r[i];
		}
	}
	*n = o + 1;
}

static void res_fini(struct taskspec_resource *r)
{
	free(r->ranges);
	free(r->free);
	free(r->role);
	free(r->kind);
	cJSON_Delete(r->tmpl);
	memset(r, 0, sizeof *r);
}

/* The reservation stack in one normalised form, whatever format it was
 * offered in (§5.1), so that identical reservations compare equal as text.
 * Fills role/dynamic/refinement of r. Returns NULL with why set when the
 * fields are malformed or mix both formats. */
static cJSON *reservation_normalise(const cJSON *j, struct taskspec_resource *r,
				    char *why, size_t wlen)
{
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(j, "role");
	const cJSON *resv = cJSON_GetObjectItemCaseSensitive(j, "reservation");
	const cJSON *stack = cJSON_GetObjectItemCaseSensitive(j, "reservations");
	bool pre = (role && !cJSON_IsNull(role)) || (resv && !cJSON_IsNull(resv));
	bool post = cJSON_IsArray(stack) && cJSON_GetArraySize(stack) > 0;
	if (stack && !cJSON_IsNull(stack) && !cJSON_IsArray(stack)) {
		snprintf(why, wlen, "'reservations' is not an array");
		return NULL;
	}
	if (pre && post) {
		snprintf(why, wlen, "mixes pre- and post-refinement reservations");
		return NULL;
	}
	cJSON *norm = ck(cJSON_CreateArray());
	if (pre) {
		const char *rs = "*";
		if (role && !cJSON_IsNull(role)) {
			if (!cJSON_IsString(role) || !*role->valuestring) {
				snprintf(why, wlen, "'role' is not a role name");
				goto bad;
			}
			rs = role->valuestring;
		}
		bool dyn = resv && !cJSON_IsNull(resv);
		if (dyn && !cJSON_IsObject(resv)) {
			snprintf(why, wlen, "'reservation' is not an object");
			goto bad;
		}
		r->refinement = false;
		if (strcmp(rs, "*") == 0) {
			if (dyn) {
				snprintf(why, wlen, "reservation for role '*'");
				goto bad;
			}
			return norm;
		}
		cJSON *e = ck(cJSON_CreateObject());
		arr_push(norm, e);
		add_str(e, "type", dyn ? "DYNAMIC" : "STATIC");
		add_str(e, "role", rs);
		if (dyn) {
			const char *pr = json_str(resv, "principal");
			const cJSON *lb = cJSON_GetObjectItemCaseSensitive(resv, "labels");
			if (pr)
				add_str(e, "principal", pr);
			if (lb)
				obj_put(e, "labels", jdup(lb));
		}
		r->role = qm_strdup(rs);
		r->dynamic = dyn;
		return norm;
	}
	r->refinement = true;
	const cJSON *it;
	const char *last_role = NULL, *last_type = NULL;
	cJSON_ArrayForEach(it, stack) {
		const char *rs = json_str(it, "role");
		const char *ty = json_str(it, "type");
		if (!cJSON_IsObject(it) || !rs || !*rs) {
			snprintf(why, wlen, "reservation without a role");
			goto bad;
		}
		cJSON *e = ck(cJSON_CreateObject());
		arr_push(norm, e);
		add_str(e, "type", ty ? ty : "UNKNOWN");
		add_str(e, "role", rs);
		const char *pr = json_str(it, "principal");
		const cJSON *lb = cJSON_GetObjectItemCaseSensitive(it, "labels");
		if (pr)
			add_str(e, "principal", pr);
		if (lb)
			obj_put(e, "labels", jdup(lb));
		last_role = rs;
		last_type = ty;
	}
	if (last_role) {
		r->role = qm_strdup(last_role);
		r->dynamic = last_type && strcmp(last_type, "DYNAMIC") == 0;
	}
	return norm;
bad:
	cJSON_Delete(norm);
	return NULL;
}

static const char *const value_keys[] = {"scalar", "ranges", "set", "text"};

/* Parse one Resource into r (zeroed by the caller). 0, or -1 with why. */
static int resource_parse(const cJSON *j, struct taskspec_resource *r,
			  char *why, size_t wlen)
{
	if (!cJSON_IsObject(j)) {
		snprintf(why, wlen, "resource is not an object");
		return -1;
	}
	const char *name = json_str(j, "name");
	const char *type = json_str(j, "type");
	if (!name || !text_ok(name, sizeof r->name - 1)) {
		snprintf(why, wlen, "resource without a usable name");
		return -1;
	}
	snprintf(r->name, sizeof r->name, "%s", name);
	if (!type) {
		snprintf(why, wlen, "resource %s without a type", name);
		return -1;
	}
	bool ports = strcmp(name, "ports") == 0;
	if (strcmp(type, "SCALAR") == 0) {
		r->type = TASKSPEC_SCALAR;
		const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "scalar");
		double v;
		if (!json_number(cJSON_GetObjectItemCaseSensitive(sc, "value"), &v) ||
		    !(v >= 0 && v <= 1e12)) {
			snprintf(why, wlen, "resource %s: bad scalar value", name);
			return -1;
		}
		r->milli = (int64_t)(v * 1000.0 + 0.5);
	} else if (strcmp(type, "RANGES") == 0) {
		r->type = TASKSPEC_RANGES;
		const cJSON *rg = cJSON_GetObjectItemCaseSensitive(j, "ranges");
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(rg, "range");
		if (arr && !cJSON_IsArray(arr)) {
			snprintf(why, wlen, "resource %s: bad ranges", name);
			return -1;
		}
		int n = cJSON_GetArraySize(arr);
		if (n > TASKSPEC_OFFER_MAX_RANGES) {
			snprintf(why, wlen, "resource %s: more than %d ranges",
				 name, TASKSPEC_OFFER_MAX_RANGES);
			return -1;
		}
		r->ranges = qm_calloc((size_t)n, sizeof *r->ranges);
		const cJSON *it;
		cJSON_ArrayForEach(it, arr) {
			uint64_t b, e;
			if (!json_u64(cJSON_GetObjectItemCaseSensitive(it, "begin"), &b) ||
			    !json_u64(cJSON_GetObjectItemCaseSensitive(it, "end"), &e) ||
			    b > e || (ports && e > 65535)) {
				snprintf(why, wlen, "resource %s: bad range", name);
				return -1;
			}
			r->ranges[r->nranges].begin = b;
			r->ranges[r->nranges].end = e;
			r->nranges++;
		}
		ranges_normalise(r->ranges, &r->nranges);
	} else if (strcmp(type, "SET") == 0) {
		r->type = TASKSPEC_SET;
	} else {
		snprintf(why, wlen, "resource %s: unsupported type %s", name, type);
		return -1;
	}

	cJSON *norm = reservation_normalise(j, r, why, wlen);
	if (!norm)
		return -1;
	const cJSON *disk = cJSON_GetObjectItemCaseSensitive(j, "disk");
	const cJSON *prov = cJSON_GetObjectItemCaseSensitive(j, "provider_id");
	const cJSON *rev = cJSON_GetObjectItemCaseSensitive(j, "revocable");
	const cJSON *shr = cJSON_GetObjectItemCaseSensitive(j, "shared");
	const char *ar = json_str(cJSON_GetObjectItemCaseSensitive(j, "allocation_info"), "role");
	r->has_disk = disk && !cJSON_IsNull(disk);
	r->has_provider = prov && !cJSON_IsNull(prov);
	r->revocable = rev && !cJSON_IsNull(rev);
	r->shared = shr && !cJSON_IsNull(shr);

	/* The identity, in a fixed key order, as one comparable string. */
	cJSON *k = ck(cJSON_CreateObject());
	add_str(k, "name", name);
	add_str(k, "type", type);
	add_str(k, "allocation_role", ar ? ar : "");
	obj_put(k, "reservations", norm);
	obj_put(k, "disk", r->has_disk ? jdup(disk) : ck(cJSON_CreateNull()));
	obj_put(k, "provider_id", r->has_provider ? jdup(prov) : ck(cJSON_CreateNull()));
	add_bool(k, "revocable", r->revocable);
	add_bool(k, "shared", r->shared);
	r->kind = cJSON_PrintUnformatted(k);
	cJSON_Delete(k);
	if (!r->kind)
		qm_oom();

	r->tmpl = jdup(j);
	for (size_t i = 0; i < ARRAY_LEN(value_keys); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(r->tmpl, value_keys[i]);

	bool plain_scalar = r->type == TASKSPEC_SCALAR &&
			    (strcmp(name, "cpus") == 0 || strcmp(name, "mem") == 0 ||
			     strcmp(name, "disk") == 0);
	bool plain_ports = r->type == TASKSPEC_RANGES && ports;
	r->fittable = (plain_scalar || plain_ports) && !r->revocable &&
		      !r->shared && !r->has_disk && !r->has_provider;
	return 0;
}

/* Merge b into a (same kind). */
static int resource_merge(struct taskspec_resource *a,
			  struct taskspec_resource *b)
{
	if (a->type == TASKSPEC_SCALAR) {
		a->milli += b->milli;
	} else if (a->type == TASKSPEC_RANGES) {
		if (a->nranges + b->nranges > TASKSPEC_OFFER_MAX_RANGES)
			return QM_ETOOBIG;
		a->ranges = qm_realloc(a->ranges, (a->nranges + b->nranges) *
					sizeof *a->ranges);
		memcpy(a->ranges + a->nranges, b->ranges,
		       b->nranges * sizeof *b->ranges);
		a->nranges += b->nranges;
		ranges_normalise(a->ranges, &a->nranges);
	}
	return 0;
}

/* Attribute value as text (capped). */
static int attr_text(const cJSON *a, char *buf, size_t cap)
{
	const char *type = json_str(a, "type");
	if (!type)
		return -1;
	size_t o = 0;
	buf[0] = '\0';
#define PUT(...)                                                         \
	do {                                                             \
		int n_ = snprintf(buf + o, cap - o, __VA_ARGS__);        \
		if (n_ < 0 || (size_t)n_ >= cap - o)                     \
			return -1;                                       \
		o += (size_t)n_;                                         \
	} while (0)
	if (strcmp(type, "TEXT") == 0) {
		const char *v = json_str(cJSON_GetObjectItemCaseSensitive(a, "text"), "value");
		if (!v)
			return -1;
		PUT("%s", v);
	} else if (strcmp(type, "SCALAR") == 0) {
		double d;
		if (!json_number(cJSON_GetObjectItemCaseSensitive(
				 cJSON_GetObjectItemCaseSensitive(a, "scalar"), "value"), &d) ||
		    !(d > -1e15 && d < 1e15))
			return -1;
		char m[48];
		fmt_milli((int64_t)(d * 1000.0 + (d < 0 ? -0.5 : 0.5)), m, sizeof m);
		PUT("%s", m);
	} else if (strcmp(type, "RANGES") == 0) {
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(a, "ranges"), "range");
		const cJSON *it;
		PUT("[");
		bool first = true;
		cJSON_ArrayForEach(it, arr) {
			uint64_t b, e;
			if (!json_u64(cJSON_GetObjectItemCaseSensitive(it, "begin"), &b) ||
			    !json_u64(cJSON_GetObjectItemCaseSensitive(it, "end"), &e))
				return -1;
			PUT("%s%" PRIu64 "-%" PRIu64, first ? "" : ",", b, e);
			first = false;
		}
		PUT("]");
	} else if (strcmp(type, "SET") == 0) {
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(a, "set"), "item");
		const cJSON *it;
		PUT("{");
		bool first = true;
		cJSON_ArrayForEach(it, arr) {
			if (!cJSON_IsString(it))
				return -1;
			PUT("%s%s", first ? "" : ",", it->valuestring);
			first = false;
		}
		PUT("}");
	} else {
		return -1;
	}
#undef PUT
	return has_ctrl(buf) ? -1 : 0;
}

static int get_value_id(const cJSON *o, const char *key, char *out, size_t cap,
			char *err, size_t errlen)
{
	const char *v = json_str(cJSON_GetObjectItemCaseSensitive(o, key), "value");
	if (!v)
		return qm_fail(err, errlen, QM_EINVAL, "offer without %s", key);
	if (!taskspec_id_valid(v) || strlen(v) >= cap)
		return qm_fail(err, errlen, QM_EINVAL, "offer has a malformed %s", key);
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static void skip(struct taskspec_offer *o, const char *why)
{
	if (o->skipped++ == 0)
		snprintf(o->skip_reason, sizeof o->skip_reason, "%s", why);
}

int taskspec_offer_parse(const cJSON *j, struct taskspec_offer *o, char *err,
			 size_t errlen)
{
	memset(o, 0, sizeof *o);
	if (!cJSON_IsObject(j))
		return qm_fail(err, errlen, QM_EINVAL, "offer is not an object");
	int rv;
	if ((rv = get_value_id(j, "id", o->id, sizeof o->id, err, errlen)))
		return rv;
	if ((rv = get_value_id(j, "agent_id", o->agent_id, sizeof o->agent_id,
			       err, errlen)))
		return rv;
	const char *host = json_str(j, "hostname");
	if (!host || !text_ok(host, sizeof o->hostname - 1))
		return qm_fail(err, errlen, QM_EINVAL,
			    "offer %s has no usable hostname", o->id);
	snprintf(o->hostname, sizeof o->hostname, "%s", host);
	const char *role = json_str(cJSON_GetObjectItemCaseSensitive(j, "allocation_info"), "role");
	if (role) {
		if (!text_ok(role, sizeof o->role - 1))
			return qm_fail(err, errlen, QM_EINVAL,
				    "offer %s has a malformed allocation role", o->id);
		snprintf(o->role, sizeof o->role, "%s", role);
	}

	const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(j, "attributes");
	if (attrs && cJSON_IsArray(attrs)) {
		int n = cJSON_GetArraySize(attrs);
		if (n > TASKSPEC_OFFER_MAX_ATTRS)
			return qm_fail(err, errlen, QM_ETOOBIG,
				    "offer %s has %d attributes (max %d)", o->id,
				    n, TASKSPEC_OFFER_MAX_ATTRS);
		o->attrs = qm_calloc((size_t)n, sizeof *o->attrs);
		const cJSON *it;
		char *val = qm_malloc(TASKSPEC_ATTR_VALUE_MAX + 1);
		cJSON_ArrayForEach(it, attrs) {
			const char *an = json_str(it, "name");
			if (!an || !text_ok(an, 255) ||
			    attr_text(it, val, TASKSPEC_ATTR_VALUE_MAX + 1)) {
				skip(o, "malformed attribute");
				continue;
			}
			o->attrs[o->nattrs].name = qm_strdup(an);
			o->attrs[o->nattrs].value = qm_strdup(val);
			o->nattrs++;
		}
		free(val);
	}

	const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "resources");
	if (res && !cJSON_IsArray(res))
		return qm_fail(err, errlen, QM_EINVAL,
			    "offer %s: resources is not an array", o->id);
	int n = cJSON_GetArraySize(res);
	if (n > TASKSPEC_OFFER_MAX_RESOURCES)
		return qm_fail(err, errlen, QM_ETOOBIG,
			    "offer %s has %d resources (max %d)", o->id, n,
			    TASKSPEC_OFFER_MAX_RESOURCES);
	o->res = qm_calloc((size_t)n, sizeof *o->res);
	const cJSON *it;
	cJSON_ArrayForEach(it, res) {
		struct taskspec_resource r;
		char why[160];
		memset(&r, 0, sizeof r);
		if (resource_parse(it, &r, why, sizeof why)) {
			res_fini(&r);
			skip(o, why);
			continue;
		}
		size_t k;
		for (k = 0; k < o->nres; k++)
			if (strcmp(o->res[k].kind, r.kind) == 0)
				break;
		if (k < o->nres) {
			rv = resource_merge(&o->res[k], &r);
			res_fini(&r);
			if (rv)
				return qm_fail(err, errlen, rv,
					    "offer %s: too many ranges", o->id);
		} else {
			o->res[o->nres++] = r;
		}
	}
	for (size_t k = 0; k < o->nres; k++) {
		struct taskspec_resource *r = &o->res[k];
		if (r->type == TASKSPEC_RANGES) {
			r->free = qm_calloc(r->nranges, sizeof *r->free);
			memcpy(r->free, r->ranges, r->nranges * sizeof *r->free);
			r->nfree = r->nranges;
		}
	}
	return 0;
}

void taskspec_offer_free(struct taskspec_offer *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->nattrs; i++) {
		free(o->attrs[i].name);
		free(o->attrs[i].value);
	}
	free(o->attrs);
	for (size_t i = 0; i < o->nres; i++)
		res_fini(&o->res[i]);
	free(o->res);
	memset(o, 0, sizeof *o);
}

const char *taskspec_offer_attr(const struct taskspec_offer *o,
				const char *name)
{
	for (size_t i = 0; i < o->nattrs; i++)
		if (strcmp(o->attrs[i].name, name) == 0)
			return o->attrs[i].value;
	return NULL;
}

/* ---- offers: fitting ------------------------------------------------ */

static bool allowed(const struct taskspec_resource *r,
		    enum taskspec_reservation which)
{
	switch (which) {
	case TASKSPEC_RES_RESERVED: return r->role != NULL;
	case TASKSPEC_RES_UNRESERVED: return r->role == NULL;
	default: return true;
	}
}

/* Indices of the fittable kinds of `name`, in the order they are used:
 * reserved ones first (in offer order), then unreserved ones. */
static size_t kinds(const struct taskspec_offer *o, const char *name,
		    enum taskspec_reservation which, size_t *idx)
{
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < o->nres; i++) {
			const struct taskspec_resource *r = &o->res[i];
			if (!r->fittable || strcmp(r->name, name) != 0 ||
			    !allowed(r, which))
				continue;
			if ((pass == 0) == (r->role != NULL))
				idx[n++] = i;
		}
	}
	return n;
}

static uint64_t ranges_count(const struct taskspec_range *r, size_t n)
{
	uint64_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += r[i].end - r[i].begin + 1;
	return c;
}

int64_t taskspec_offer_left(const struct taskspec_offer *o, const char *name,
			    enum taskspec_reservation which)
{
	size_t *idx = qm_calloc(o->nres, sizeof *idx);
	size_t n = kinds(o, name, which, idx);
	int64_t left = 0;
	for (size_t i = 0; i < n; i++) {
		const struct taskspec_resource *r = &o->res[idx[i]];
		if (r->type == TASKSPEC_SCALAR)
			left += r->milli - r->used_milli;
		else
			left += (int64_t)ranges_count(r->free, r->nfree);
	}
	free(idx);
	return left;
}

void taskspec_offer_summary(const struct taskspec_offer *o, char *buf,
			    size_t cap)
{
	static const char *const scalars[] = {"cpus", "mem", "disk"};
	size_t off = 0;
	if (!cap)
		return;
	buf[0] = '\0';
	for (size_t s = 0; s < ARRAY_LEN(scalars); s++) {
		char m[48];
		fmt_milli(taskspec_offer_left(o, scalars[s], TASKSPEC_RES_ANY), m,
			  sizeof m);
		int n = snprintf(buf + off, cap - off, "%s%s=%s", s ? " " : "",
				 scalars[s], m);
		if (n < 0 || (size_t)n >= cap - off)
			return;
		off += (size_t)n;
	}
	int n = snprintf(buf + off, cap - off, " ports=[");
	if (n < 0 || (size_t)n >= cap - off)
		return;
	off += (size_t)n;
	bool first = true;
	for (size_t i = 0; i < o->nres; i++) {
		const struct taskspec_resource *r = &o->res[i];
		if (!r->fittable || r->type != TASKSPEC_RANGES)
			continue;
		for (size_t k = 0; k < r->nfree; k++) {
			n = snprintf(buf + off, cap - off, "%s%" PRIu64 "-%" PRIu64,
				     first ? "" : ",", r->free[k].begin,
				     r->free[k].end);
			if (n < 0 || (size_t)n >= cap - off)
				return;
			off += (size_t)n;
			first = false;
		}
	}
	snprintf(buf + off, cap - off, "]");
}

static bool range_has(const struct taskspec_resource *r, uint64_t p)
{
	for (size_t i = 0; i < r->nfree; i++)
		if (p >= r->free[i].begin && p <= r->free[i].end)
			return true;
	return false;
}

/* Take port p out of r's free ranges (p must be free). */
static void range_take(struct taskspec_resource *r, uint64_t p)
{
	for (size_t i = 0; i < r->nfree; i++) {
		struct taskspec_range *g = &r->free[i];
		if (p < g->begin || p > g->end)
			continue;
		if (g->begin == g->end) {
			memmove(g, g + 1, (r->nfree - i - 1) * sizeof *g);
			r->nfree--;
		} else if (p == g->begin) {
			g->begin++;
		} else if (p == g->end) {
			g->end--;
		} else {
			r->free = qm_realloc(r->free, (r->nfree + 1) * sizeof *r->free);
			g = &r->free[i];
			memmove(g + 1, g, (r->nfree - i) * sizeof *g);
			g[0].end = p - 1;
			g[1].begin = p + 1;
			r->nfree++;
		}
		return;
	}
}

static bool chosen_has(const uint32_t *chosen, const bool *done, unsigned n,
		       uint32_t p)
{
	for (unsigned i = 0; i < n; i++)
		if (done[i] && chosen[i] == p)
			return true;
	return false;
}

static bool avoided(const uint32_t *avoid, unsigned n, uint32_t p)
{
	for (unsigned i = 0; i < n; i++)
		if (avoid[i] == p)
			return true;
	return false;
}

static cJSON *entry_from(const struct taskspec_resource *r)
{
	return jdup(r->tmpl);
}

static const char *const scalar_names[3] = {"cpus", "mem", "disk"};

bool taskspec_offer_take(struct taskspec_offer *o,
			 const struct taskspec_request *r,
			 struct taskspec_fit *f)
{
	memset(f, 0, sizeof *f);
	const int64_t want[3] = {r->cpus_milli, r->mem_milli, r->disk_milli};
	if (r->nports > TASKSPEC_MAX_PORTS) {
		snprintf(f->reason, sizeof f->reason, "more than %d ports requested",
			 TASKSPEC_MAX_PORTS);
		return false;
	}
	if (want[0] < 0 || want[1] < 0 || want[2] < 0) {
		snprintf(f->reason, sizeof f->reason, "negative amount requested");
		return false;
	}
	if (!want[0] && !want[1] && !want[2] && !r->nports) {
		snprintf(f->reason, sizeof f->reason,
			 "empty request (Mesos rejects tasks without resources)");
		return false;
	}
	size_t *idx = qm_calloc(o->nres, sizeof *idx);

	for (size_t s = 0; s < 3; s++) {
		if (!want[s])
			continue;
		int64_t left = taskspec_offer_left(o, scalar_names[s], r->reservation);
		if (left < want[s]) {
			char a[48], b[48];
			fmt_milli(want[s], a, sizeof a);
			fmt_milli(left, b, sizeof b);
			snprintf(f->reason, sizeof f->reason, "%s: need %s, %s left",
				 scalar_names[s], a, b);
			free(idx);
			return false;
		}
	}

	/* Ports: choose all before taking any, so a miss takes nothing. */
	uint32_t chosen[TASKSPEC_MAX_PORTS] = {0};
	size_t chosen_kind[TASKSPEC_MAX_PORTS] = {0};
	bool done[TASKSPEC_MAX_PORTS] = {false};
	size_t *pidx = qm_calloc(o->nres, sizeof *pidx);
	size_t nk = kinds(o, "ports", r->reservation, pidx);
	for (unsigned w = 0; w < r->nports; w++) {
		uint32_t p = r->ports[w].preferred;
		if (!p)
			continue;
		bool dupe = chosen_has(chosen, done, r->nports, p);
		for (size_t k = 0; k < nk && !dupe; k++) {
			if (range_has(&o->res[pidx[k]], p)) {
				chosen[w] = p;
				chosen_kind[w] = pidx[k];
				done[w] = true;
				break;
			}
		}
		if (!done[w] && r->ports[w].required) {
			snprintf(f->reason, sizeof f->reason,
				 dupe ? "port %u requested twice"
				      : "port %u is not offered (or taken)", p);
			free(idx);
			free(pidx);
			return false;
		}
	}
	unsigned navoid = r->navoid < TASKSPEC_MAX_AVOID ? r->navoid : TASKSPEC_MAX_AVOID;
	for (unsigned w = 0; w < r->nports; w++) {
		if (done[w])
			continue;
		for (int lax = 0; lax < 2 && !done[w]; lax++) {
			for (size_t k = 0; k < nk && !done[w]; k++) {
				const struct taskspec_resource *rs = &o->res[pidx[k]];
				for (size_t g = 0; g < rs->nfree && !done[w]; g++) {
					/* steps over at most nports + navoid values */
					for (uint64_t p = rs->free[g].begin;
					     p <= rs->free[g].end; p++) {
						uint32_t q = (uint32_t)p;
						if (chosen_has(chosen, done, r->nports, q) ||
						    (!lax && avoided(r->avoid, navoid, q)))
							continue;
						chosen[w] = q;
						chosen_kind[w] = pidx[k];
						done[w] = true;
						break;
					}
				}
			}
		}
		if (!done[w]) {
			snprintf(f->reason, sizeof f->reason,
				 "ports: need %u, not enough free", r->nports);
			free(idx);
			free(pidx);
			return false;
		}
	}

	/* It fits: take and describe. */
	cJSON *arr = ck(cJSON_CreateArray());
	for (size_t s = 0; s < 3; s++) {
		int64_t need = want[s];
		size_t n = kinds(o, scalar_names[s], r->reservation, idx);
		for (size_t k = 0; k < n && need > 0; k++) {
			struct taskspec_resource *rs = &o->res[idx[k]];
			int64_t t = rs->milli - rs->used_milli;
			if (t > need)
				t = need;
			if (t <= 0)
				continue;
			rs->used_milli += t;
			need -= t;
			cJSON *e = entry_from(rs);
			add_num(add_obj(e, "scalar"), "value", (double)t / 1000.0);
			arr_push(arr, e);
		}
	}
	for (size_t k = 0; k < nk; k++) {
		struct taskspec_resource *rs = &o->res[pidx[k]];
		uint32_t mine[TASKSPEC_MAX_PORTS];
		unsigned m = 0;
		for (unsigned w = 0; w < r->nports; w++)
			if (chosen_kind[w] == pidx[k])
				mine[m++] = chosen[w];
		if (!m)
			continue;
		/* sort the few ports, then write runs as ranges */
		for (unsigned a = 1; a < m; a++)
			for (unsigned b = a; b > 0 && mine[b - 1] > mine[b]; b--) {
				uint32_t t = mine[b];
				mine[b] = mine[b - 1];
				mine[b - 1] = t;
			}
		cJSON *e = entry_from(rs);
		cJSON *range = add_arr(add_obj(e, "ranges"), "range");
		for (unsigned a = 0; a < m;) {
			unsigned b = a;
			while (b + 1 < m && mine[b + 1] == mine[b] + 1)
				b++;
			cJSON *g = ck(cJSON_CreateObject());
			add_num(g, "begin", mine[a]);
			add_num(g, "end", mine[b]);
			arr_push(range, g);
			a = b + 1;
		}
		for (unsigned a = 0; a < m; a++)
			range_take(rs, mine[a]);
		arr_push(arr, e);
	}
	free(idx);
	free(pidx);
	memcpy(f->ports, chosen, sizeof chosen);
	f->nports = r->nports;
	f->resources = arr;
	return true;
}

void taskspec_fit_fini(struct taskspec_fit *f)
{
	if (!f)
		return;
	cJSON_Delete(f->resources);
	f->resources = NULL;
}

size_t taskspec_offer_take_all(struct taskspec_offer *o,
			       const struct taskspec_request *reqs, size_t n,
			       struct taskspec_fit *fits)
{
	size_t ok = 0;
	for (size_t i = 0; i < n; i++)
		if (taskspec_offer_take(o, &reqs[i], &fits[i]))
			ok++;
	return ok;
}

void taskspec_request_for(const struct taskspec_config *c,
			  enum service s, struct taskspec_request *r)
{
	memset(r, 0, sizeof *r);
	if ((unsigned)s >= SERVICE_COUNT)
		return;
	const struct taskspec_service_conf *v = &c->svc[s];
	r->cpus_milli = v->cpus_milli;
	r->mem_milli = v->mem_mb * 1000;
	r->disk_milli = v->disk_mb * 1000;
	if (v->port) {
		r->ports[r->nports].preferred = v->port;
		r->ports[r->nports++].required = c->strict_ports;
	}
	if (v->http_port) {
		r->ports[r->nports].preferred = v->http_port;
		r->ports[r->nports++].required = c->strict_ports;
	}
	for (unsigned i = 0; i < SERVICE_COUNT; i++) {
		const uint32_t ps[2] = {c->svc[i].port, c->svc[i].http_port};
		for (unsigned k = 0; k < 2; k++)
			if (ps[k] && r->navoid < TASKSPEC_MAX_AVOID &&
			    !avoided(r->avoid, r->navoid, ps[k]))
				r->avoid[r->navoid++] = ps[k];
	}
}

int taskspec_fit_reserve(struct taskspec_fit *f, const char *role,
			 const char *principal, cJSON **reserve)
{
	*reserve = NULL;
	if (!taskspec_role_valid(role))
		return QM_EINVAL;
	if (principal && !text_ok(principal, 255))
		return QM_EINVAL;
	if (!f->resources)
		return 0;
	cJSON *out = NULL;
	cJSON *e;
	cJSON_ArrayForEach(e, f->resources) {
		const cJSON *rl = cJSON_GetObjectItemCaseSensitive(e, "role");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "reservations");
		bool pre = rl && !cJSON_IsNull(rl);
		if (pre) {
			if (!cJSON_IsString(rl) || strcmp(rl->valuestring, "*") != 0)
				continue;
			cJSON_ReplaceItemInObjectCaseSensitive(e, "role",
							      ck(cJSON_CreateString(role)));
			cJSON_DeleteItemFromObjectCaseSensitive(e, "reservations");
			cJSON *rv = add_obj(e, "reservation");
			if (principal)
				add_str(rv, "principal", principal);
		} else {
			if (cJSON_GetArraySize(st) > 0)
				continue;
			cJSON_DeleteItemFromObjectCaseSensitive(e, "reservations");
			cJSON *g = ck(cJSON_CreateObject());
			add_str(g, "type", "DYNAMIC");
			add_str(g, "role", role);
			if (principal)
				add_str(g, "principal", principal);
			arr_push(add_arr(e, "reservations"), g);
		}
		if (!out)
			out = ck(cJSON_CreateArray());
		arr_push(out, jdup(e));
	}
	*reserve = out;
	return 0;
}

/* ---- TaskInfo builders ---------------------------------------------- */

static void env_add(cJSON *vars, const char *name, const char *value)
{
	cJSON *v = ck(cJSON_CreateObject());
	add_str(v, "name", name);
	add_str(v, "value", value);
	arr_push(vars, v);
}

static void env_add_u(cJSON *vars, const char *name, unsigned long long value)
{
	char b[24];
	snprintf(b, sizeof b, "%llu", value);
	env_add(vars, name, b);
}

static void label_add(cJSON *labels, const char *key, const char *value)
{
	cJSON *l = ck(cJSON_CreateObject());
	add_str(l, "key", key);
	add_str(l, "value", value);
	arr_push(labels, l);
}

static void param_add(cJSON *params, const char *key, const char *value)
{
	cJSON *p = ck(cJSON_CreateObject());
	add_str(p, "key", key);
	add_str(p, "value", value);
	arr_push(params, p);
}

static void volume_add(cJSON *vols, const char *host, const char *container,
		       bool rw)
{
	cJSON *v = ck(cJSON_CreateObject());
	add_str(v, "container_path", container);
	add_str(v, "host_path", host);
	add_str(v, "mode", rw ? "RW" : "RO");
	arr_push(vols, v);
}

/* int64 travels as an exact JSON number token, never quoted: before 1.6.0
 * stout refuses a JSON string for an integer field (1.4.0
 * 3rdparty/stout/include/stout/protobuf.hpp, Parser::operator()(const
 * JSON::String&): "Not expecting a JSON string for field 'nanoseconds'"),
 * and a cJSON double would round values above 2^53. */
static void kill_policy_add(cJSON *task, int64_t grace_ms)
{
	char ns[32];
	snprintf(ns, sizeof ns, "%" PRId64, grace_ms * 1000000);
	cJSON *gp = add_obj(add_obj(task, "kill_policy"), "grace_period");
	if (!cJSON_AddItemToObject(gp, "nanoseconds", ck(cJSON_CreateRaw(ns))))
		qm_oom();
}

/* QUOBYTE_REGISTRY: host:port[,host:port] or a DNS name. The image's entry
 * script writes it into a config file, so only the characters that can
 * appear in those forms pass. */
static bool registry_ok(const char *s)
{
	if (!text_ok(s, 2048))
		return false;
	for (const char *c = s; *c; c++)
		if (!is_alnum(*c) && !strchr(".-_:,[]", *c))
			return false;
	return true;
}

static bool ip_ok(const char *s)
{
	if (!text_ok(s, 45))
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') ||
		      (*c >= 'A' && *c <= 'F') || *c == '.' || *c == ':'))
			return false;
	return true;
}

/* Common checks of a task's identity and resources. */
static int check_common(const char *task_id, const char *agent_id,
			const char *hostname, const struct taskspec_fit *fit,
			char *err, size_t errlen)
{
	if (!taskspec_id_valid(task_id))
		return qm_fail(err, errlen, QM_EINVAL, "bad task id");
	if (!taskspec_id_valid(agent_id))
		return qm_fail(err, errlen, QM_EINVAL, "bad agent id");
	if (!text_ok(hostname, TASKSPEC_ID_MAX))
		return qm_fail(err, errlen, QM_EINVAL, "bad hostname");
	if (!fit || !cJSON_IsArray(fit->resources) ||
	    cJSON_GetArraySize(fit->resources) == 0)
		return qm_fail(err, errlen, QM_EINVAL,
			    "task %s has no resources", task_id);
	return 0;
}

static cJSON *task_skeleton(const char *name_prefix, const char *hostname,
			    const char *task_id, const char *agent_id,
			    const struct taskspec_fit *fit)
{
	cJSON *t = ck(cJSON_CreateObject());
	char name[TASKSPEC_ID_MAX + 64];
	snprintf(name, sizeof name, "%s.%s", name_prefix, hostname);
	add_str(t, "name", name);
	add_id(t, "task_id", task_id);
	add_id(t, "agent_id", agent_id);
	obj_put(t, "resources", jdup(fit->resources));
	return t;
}

int taskspec_service_task(const struct taskspec_config *c,
			  const struct taskspec_service_params *p, cJSON **out,
			  char *err, size_t errlen)
{
	*out = NULL;
	if ((unsigned)p->service >= SERVICE_PROBER)
		return qm_fail(err, errlen, QM_EINVAL, "not a Quobyte service");
	const char *svc = service_name(p->service);
	int rv = check_common(p->task_id, p->agent_id, p->hostname, p->fit,
			      err, errlen);
	if (rv)
		return rv;
	if (!taskspec_version_valid(p->version))
		return qm_fail(err, errlen, QM_EINVAL,
			    "version is not a valid Docker tag");
	if (!taskspec_image_valid(c->image))
		return qm_fail(err, errlen, QM_EINVAL, "bad image name");
	if (!registry_ok(p->registry))
		return qm_fail(err, errlen, QM_EINVAL,
			    "QUOBYTE_REGISTRY must be host:port[,host:port] "
			    "or a DNS name");
	if (is_set(p->host_ip) && !ip_ok(p->host_ip))
		return qm_fail(err, errlen, QM_EINVAL, "HOST_IP is not an IP address");
	if (p->ndevice_dirs > TASKSPEC_MAX_DEVICE_DIRS)
		return qm_fail(err, errlen, QM_EINVAL, "more than %d device dirs",
			    TASKSPEC_MAX_DEVICE_DIRS);
	for (size_t i = 0; i < p->ndevice_dirs; i++)
		if (!taskspec_path_valid(p->device_dirs[i]))
			return qm_fail(err, errlen, QM_EINVAL,
				    "device dir %zu is not a plain absolute path", i);
	if (is_set(c->extra_service_config) && has_ctrl(c->extra_service_config))
		return qm_fail(err, errlen, QM_EINVAL, "bad extra service config");
	if (p->service == SERVICE_CLIENT &&
	    !taskspec_path_valid(c->client_mount_point))
		return qm_fail(err, errlen, QM_EINVAL, "bad client mount point");
	if (is_set(c->config_host_dir) && !taskspec_path_valid(c->config_host_dir))
		return qm_fail(err, errlen, QM_EINVAL, "bad config host dir");

	const struct taskspec_service_conf *v = &c->svc[p->service];
	unsigned want = (v->port ? 1u : 0u) + (v->http_port ? 1u : 0u);
	if (p->fit->nports != want)
		return qm_fail(err, errlen, QM_EINVAL,
			    "fit has %u ports, %s needs %u", p->fit->nports,
			    svc, want);
	uint32_t port = 0, http = 0;
	unsigned pi = 0;
	if (v->port)
		port = p->fit->ports[pi++];
	if (v->http_port)
		http = p->fit->ports[pi++];

	char prefix[32];
	snprintf(prefix, sizeof prefix, "quobyte-%s", svc);
	cJSON *t = task_skeleton(prefix, p->hostname, p->task_id, p->agent_id,
				 p->fit);

	/* command: no shell, the image's entry point, configured by env */
	cJSON *cmd = add_obj(t, "command");
	add_bool(cmd, "shell", false);
	cJSON *vars = add_arr(add_obj(cmd, "environment"), "variables");
	env_add(vars, "QUOBYTE_SERVICE", svc);
	env_add(vars, "QUOBYTE_REGISTRY", p->registry);
	if (port)
		env_add_u(vars, main_port[p->service].env, port);
	if (http)
		env_add_u(vars, "QUOBYTE_HTTP_PORT", http);
	if (p->service != SERVICE_CLIENT && v->max_mem_mb >= 0) {
		int64_t mm = v->max_mem_mb ? v->max_mem_mb : v->mem_mb * 3 / 4;
		char name[48], val[32];
		snprintf(name, sizeof name, "QUOBYTE_MAX_MEM_%s",
			 service_upper[p->service]);
		snprintf(val, sizeof val, "%" PRId64 "m", mm > 0 ? mm : 1);
		env_add(vars, name, val);
	}
	if (is_set(c->extra_service_config))
		env_add(vars, "QUOBYTE_EXTRA_SERVICE_CONFIG",
			c->extra_service_config);
	if (is_set(p->host_ip))
		env_add(vars, "HOST_IP", p->host_ip);
	env_add(vars, "HOST", p->hostname);
	if (p->service == SERVICE_CLIENT)
		env_add(vars, "QUOBYTE_MOUNT_POINT", "/quobyte");

	/* container */
	char image[TASKSPEC_IMAGE_MAX + TASKSPEC_VERSION_MAX + 2];
	snprintf(image, sizeof image, "%s:%s", c->image, p->version);
	cJSON *ct = add_obj(t, "container");
	add_str(ct, "type", "DOCKER");
	cJSON *dk = add_obj(ct, "docker");
	add_str(dk, "image", image);
	add_str(dk, "network", "HOST");
	add_bool(dk, "privileged", true);
	add_bool(dk, "force_pull_image", c->force_pull_image);
	cJSON *params = ck(cJSON_CreateArray());
	cJSON *vols = add_arr(ct, "volumes");
	volume_add(vols, "/dev", "/dev", true);
	volume_add(vols, "/lib/modules", "/lib/modules", false);
	volume_add(vols, "/sys/bus", "/sys/bus", true);
	if (is_set(c->config_host_dir)) {
		char dir[TASKSPEC_PATH_MAX + 32];
		snprintf(dir, sizeof dir, "%s/%s",
			 strcmp(c->config_host_dir, "/") ? c->config_host_dir : "",
			 svc);
		volume_add(vols, dir, "/etc/quobyte", true);
	}
	for (size_t i = 0; i < p->ndevice_dirs; i++) {
		const char *d = p->device_dirs[i];
		if (c->shared_propagation) {
			/* Docker's -v: a Mesos Volume cannot ask for
			 * propagation (§6.2), a "volume" parameter can. */
			char spec[2 * TASKSPEC_PATH_MAX + 16];
			snprintf(spec, sizeof spec, "%s:%s:rw,rshared", d, d);
			param_add(params, "volume", spec);
		} else {
			volume_add(vols, d, d, true);
		}
	}
	if (p->service == SERVICE_CLIENT) {
		char spec[TASKSPEC_PATH_MAX + 32];
		param_add(params, "pid", "host");
		snprintf(spec, sizeof spec, "%s:/quobyte:rw,rshared",
			 c->client_mount_point);
		param_add(params, "volume", spec);
	}
	if (cJSON_GetArraySize(params) > 0)
		obj_put(dk, "parameters", params);
	else
		cJSON_Delete(params);

	/* health: HTTP GET / on the status port */
	if (http) {
		cJSON *hc = add_obj(t, "health_check");
		add_str(hc, "type", "HTTP");
		cJSON *h = add_obj(hc, "http");
		add_str(h, "scheme", "http");
		add_num(h, "port", http);
		add_str(h, "path", "/");
		add_num(hc, "delay_seconds", c->health_delay_s);
		add_num(hc, "interval_seconds", c->health_interval_s);
		add_num(hc, "timeout_seconds", c->health_timeout_s);
		add_num(hc, "consecutive_failures", c->health_failures);
		add_num(hc, "grace_period_seconds", c->health_grace_s);
	} else if (port && (p->service == SERVICE_API || p->service == SERVICE_WEBCONSOLE)) {
		/* API (JSON-RPC, 7860) and webconsole (8080) have no status
		 * port: a TCP check on the main port (HealthCheck.TCP, in
		 * include/mesos/v1/mesos.proto since 1.2) tells when they serve,
		 * so upgrades gate on them too. */
		cJSON *hc = add_obj(t, "health_check");
		add_str(hc, "type", "TCP");
		add_num(add_obj(hc, "tcp"), "port", port);
		add_num(hc, "delay_seconds", c->health_delay_s);
		add_num(hc, "interval_seconds", c->health_interval_s);
		add_num(hc, "timeout_seconds", c->health_timeout_s);
		add_num(hc, "consecutive_failures", c->health_failures);
		add_num(hc, "grace_period_seconds", c->health_grace_s);
	}
	kill_policy_add(t, c->kill_grace_ms);

	cJSON *labels = add_arr(add_obj(t, "labels"), "labels");
	label_add(labels, "service", svc);
	label_add(labels, "version", p->version);
	label_add(labels, "hostname", p->hostname);

	cJSON *disc = add_obj(t, "discovery");
	add_str(disc, "visibility", "FRAMEWORK");
	add_str(disc, "name", prefix);
	add_str(disc, "version", p->version);
	if (port || http) {
		cJSON *ports = add_arr(add_obj(disc, "ports"), "ports");
		if (port) {
			cJSON *e = ck(cJSON_CreateObject());
			add_num(e, "number", port);
			add_str(e, "name", main_port[p->service].name);
			add_str(e, "protocol", "tcp");
			arr_push(ports, e);
		}
		if (http) {
			cJSON *e = ck(cJSON_CreateObject());
			add_num(e, "number", http);
			add_str(e, "name", "http");
			add_str(e, "protocol", "tcp");
			arr_push(ports, e);
		}
	}
	*out = t;
	return 0;
}

static bool hex64_ok(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') ||
		      (*c >= 'A' && *c <= 'F')))
			return false;
	return true;
}

static bool bus_url_ok(const char *u)
{
	if (!text_ok(u, 1024) || !strstr(u, "://"))
		return false;
	for (const char *c = u; *c; c++)
		if (*c == ' ')
			return false;
	return true;
}

#define PROBER_KILL_GRACE_MS 10000

int taskspec_prober_task(const struct taskspec_config *c,
			 const struct taskspec_prober_params *p, cJSON **out,
			 char *err, size_t errlen)
{
	*out = NULL;
	int rv = check_common(p->task_id, p->agent_id, p->hostname, p->fit,
			      err, errlen);
	if (rv)
		return rv;
	if (!bus_url_ok(p->coordinator_url))
		return qm_fail(err, errlen, QM_EINVAL, "bad coordinator bus URL");
	if (!hex64_ok(p->credential_hex))
		return qm_fail(err, errlen, QM_EINVAL,
			    "node credential must be 64 hex digits");
	const char *opt[] = {p->device_roots, p->device_dirs,
			     p->client_mount_point};
	for (size_t i = 0; i < ARRAY_LEN(opt); i++)
		if (is_set(opt[i]) && !text_ok(opt[i], 4096))
			return qm_fail(err, errlen, QM_EINVAL,
				    "prober paths must be text without control "
				    "characters");
	if (p->nargs > TASKSPEC_MAX_ARGS)
		return qm_fail(err, errlen, QM_EINVAL, "more than %d prober arguments",
			    TASKSPEC_MAX_ARGS);
	for (size_t i = 0; i < p->nargs; i++)
		if (!p->args[i] || has_ctrl(p->args[i]) || strlen(p->args[i]) > 4096)
			return qm_fail(err, errlen, QM_EINVAL, "bad prober argument %zu", i);
	switch (c->prober_mode) {
	case TASKSPEC_PROBER_COMMAND:
		if (!taskspec_path_valid(c->prober_command))
			return qm_fail(err, errlen, QM_EINVAL, "bad prober command path");
		break;
	case TASKSPEC_PROBER_FETCH:
		if (!uri_ok(c->prober_uri))
			return qm_fail(err, errlen, QM_EINVAL, "bad prober URI");
		break;
	case TASKSPEC_PROBER_DOCKER:
		if (!image_ref_ok(c->prober_image) ||
		    !taskspec_path_valid(c->prober_image_path) ||
		    !taskspec_path_valid(c->prober_host_root))
			return qm_fail(err, errlen, QM_EINVAL,
				    "bad prober image or image path");
		break;
	default:
		return qm_fail(err, errlen, QM_EINVAL, "unknown prober mode");
	}

	cJSON *t = task_skeleton("quobyte-prober", p->hostname, p->task_id,
				 p->agent_id, p->fit);
	cJSON *cmd = add_obj(t, "command");
	add_bool(cmd, "shell", false);
	bool docker = c->prober_mode == TASKSPEC_PROBER_DOCKER;
	if (c->prober_mode == TASKSPEC_PROBER_FETCH) {
		cJSON *u = ck(cJSON_CreateObject());
		add_str(u, "value", c->prober_uri);
		add_bool(u, "executable", true);
		add_bool(u, "extract", false);
		add_bool(u, "cache", false);
		add_str(u, "output_file", "quobyte-prober");
		arr_push(add_arr(cmd, "uris"), u);
		add_str(cmd, "value", "./quobyte-prober");
	} else if (!docker) {
		add_str(cmd, "value", c->prober_command);
	}
	/* Command tasks: arguments is the whole argv. Docker: appended to the
	 * entry point, so no argv[0]. */
	if (!docker || p->nargs) {
		cJSON *args = add_arr(cmd, "arguments");
		if (!docker)
			arr_push(args, ck(cJSON_CreateString("quobyte-prober")));
		for (size_t i = 0; i < p->nargs; i++)
			arr_push(args, ck(cJSON_CreateString(p->args[i])));
	}
	cJSON *vars = add_arr(add_obj(cmd, "environment"), "variables");
	env_add(vars, "QUOBYTE_PROBER_COORDINATOR", p->coordinator_url);
	env_add(vars, "QUOBYTE_PROBER_AGENT_ID", p->agent_id);
	env_add(vars, "QUOBYTE_PROBER_HOSTNAME", p->hostname);
	env_add(vars, "QUOBYTE_PROBER_CREDENTIAL", p->credential_hex);
	if (is_set(p->device_roots))
		env_add(vars, "QUOBYTE_PROBER_DEVICE_ROOTS", p->device_roots);
	if (is_set(p->device_dirs))
		env_add(vars, "QUOBYTE_PROBER_DEVICE_DIRS", p->device_dirs);
	if (is_set(p->client_mount_point))
		env_add(vars, "QUOBYTE_PROBER_CLIENT_MOUNT_POINT",
			p->client_mount_point);
	if (docker)
		env_add(vars, "QUOBYTE_PROBER_HOST_ROOT", c->prober_host_root);
	if (!docker && is_set(c->prober_user))
		add_str(cmd, "user", c->prober_user);

	if (docker) {
		cJSON *ct = add_obj(t, "container");
		add_str(ct, "type", "DOCKER");
		cJSON *dk = add_obj(ct, "docker");
		add_str(dk, "image", c->prober_image);
		add_str(dk, "network", "HOST");
		add_bool(dk, "privileged", true);
		add_bool(dk, "force_pull_image", c->force_pull_image);
		cJSON *params = add_arr(dk, "parameters");
		param_add(params, "entrypoint", c->prober_image_path);
		/* the image's default user is the coordinator's unprivileged one;
		 * the prober reads block devices and every mount: root */
		param_add(params, "user", "0");
		/* the host's mount table and mount roots via /proc/1 */
		param_add(params, "pid", "host");
		cJSON *vols = add_arr(ct, "volumes");
		volume_add(vols, "/dev", "/dev", false);
		volume_add(vols, "/run/udev", "/run/udev", false);
		volume_add(vols, "/sys", "/sys", false);
	}
	kill_policy_add(t, PROBER_KILL_GRACE_MS);
	cJSON *labels = add_arr(add_obj(t, "labels"), "labels");
	label_add(labels, "service", "prober");
	label_add(labels, "hostname", p->hostname);
	*out = t;
	return 0;
}

/* ---- operator resource list ------------------------------------------ */

/* "1", "0.5", "2.125" -> milli-units; false when malformed. */
static bool parse_milli(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0, frac = 0;
	size_t i = 0, digits = 0, fdigits = 0;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		if (v > 100000000)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, fdigits++) {
			if (fdigits == 3)
				return false;
			frac = frac * 10 + (s[i] - '0');
		}
		if (fdigits == 0)
			return false;
	}
	if (i != n || digits == 0)
		return false;
	for (; fdigits < 3; fdigits++)
		frac *= 10;
	*out = v * 1000 + frac;
	return true;
}

int taskspec_parse_resources(const char *text, struct taskspec_config *c,
			     char *err, size_t errlen)
{
	if (!text || !*text)
		return 0;
	struct taskspec_service_conf svc[SERVICE_COUNT];
	memcpy(svc, c->svc, sizeof svc);
	const char *p = text;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *c1 = memchr(p, ':', n);
		const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - p)) : NULL;
		char name[32];
		enum service s;
		int64_t cpus = 0, mem = 0;
		size_t nl = c1 ? (size_t)(c1 - p) : 0;
		if (!c1 || !c2 || nl == 0 || nl >= sizeof name) {
			snprintf(err, errlen, "'%.*s' is not SERVICE:CPUS:MEM_MB", (int)(n > 64 ? 64 : n), p);
			return QM_EINVAL;
		}
		memcpy(name, p, nl);
		name[nl] = '\0';
		if (service_parse(name, &s) != 0) {
			snprintf(err, errlen, "unknown service '%s'", name);
			return QM_EINVAL;
		}
		if (!parse_milli(c1 + 1, (size_t)(c2 - c1 - 1), &cpus) || cpus <= 0 ||
		    cpus > 1024000) {
			snprintf(err, errlen, "%s: cpus must be a number in (0, 1024]", name);
			return QM_EINVAL;
		}
		if (!parse_milli(c2 + 1, (size_t)(p + n - c2 - 1), &mem) || mem % 1000 != 0 ||
		    mem < 32000 || mem > 4194304000LL) {
			snprintf(err, errlen, "%s: memory must be whole MB in [32, 4194304]", name);
			return QM_EINVAL;
		}
		svc[s].cpus_milli = cpus;
		svc[s].mem_mb = mem / 1000;
		p += n;
		if (*p == ',')
			p++;
	}
	memcpy(c->svc, svc, sizeof svc);
	return 0;
}
