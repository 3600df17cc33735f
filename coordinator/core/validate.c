/* Validators: see validate.h. Grammar checks only; nothing here allocates. */
#include "core/validate.h"

#include "core/text.h"
#include "qm_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

bool taskspec_version_valid(const char *v)
{
	if (!v || !*v)
		return false;
	size_t n = strnlen(v, TASKSPEC_VERSION_MAX + 1);
	if (n > TASKSPEC_VERSION_MAX)
		return false;
	if (!text_is_alnum(v[0]) && v[0] != '_')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!text_is_alnum(v[i]) && v[i] != '_' && v[i] != '.' && v[i] != '-')
			return false;
	return true;
}

/* One RFC 1123 label in [s, s+n). */
static bool label_ok(const char *s, size_t n)
{
	if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!text_is_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* Split [s, s+n) at every sep; true when every part (also an empty one,
 * as in "a..b" or after a trailing sep) passes ok. */
static bool parts_ok(const char *s, size_t n, char sep,
		     bool (*ok)(const char *part, size_t len))
{
	const char *p = s, *end = s + n;
	for (;;) {
		const char *q = memchr(p, sep, (size_t)(end - p));
		size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
		if (!ok(p, len))
			return false;
		if (!q)
			return true;
		p = q + 1;
	}
}

/* [s, s+n) is dot-separated RFC 1123 labels. */
static bool labels_ok(const char *s, size_t n)
{
	return parts_ok(s, n, '.', label_ok);
}

bool taskspec_hostname_valid(const char *h)
{
	if (!h || !*h)
		return false;
	size_t n = strnlen(h, TASKSPEC_HOSTNAME_MAX + 1);
	return n <= TASKSPEC_HOSTNAME_MAX && labels_ok(h, n);
}

bool taskspec_id_valid(const char *id)
{
	if (!id || !*id)
		return false;
	if (strnlen(id, TASKSPEC_ID_MAX + 1) > TASKSPEC_ID_MAX)
		return false;
	if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return false;
	if (text_has_ctrl(id))
		return false;
	return !strchr(id, '/') && !strchr(id, '\\');
}

/* Registry host of an image reference: dot-separated labels of letters,
 * digits and inner '-', then an optional ":port". */
static bool image_domain_ok(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t hn = colon ? (size_t)(colon - s) : n;
	if (hn == 0 || !labels_ok(s, hn))
		return false;
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
	if (n == 0 || !text_is_lower_alnum(s[0]))
		return false;
	while (i < n) {
		if (text_is_lower_alnum(s[i])) {
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
		if (i >= n || !text_is_lower_alnum(s[i]))
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
	return p < end && parts_ok(p, (size_t)(end - p), '/', image_component_ok);
}

/* A path component: not empty ("//", a trailing '/'), not "." or "..". */
static bool path_part_ok(const char *p, size_t len)
{
	return len > 0 && !(len == 1 && p[0] == '.') &&
	       !(len == 2 && p[0] == '.' && p[1] == '.');
}

/* A role component (§2): a path component not starting with '-'. */
static bool role_part_ok(const char *p, size_t len)
{
	return path_part_ok(p, len) && p[0] != '-';
}

bool taskspec_path_valid(const char *path)
{
	if (!path || path[0] != '/')
		return false;
	size_t n = strnlen(path, TASKSPEC_PATH_MAX + 1);
	if (n > TASKSPEC_PATH_MAX || text_has_ctrl(path))
		return false;
	if (strchr(path, ':') || strchr(path, ','))
		return false;
	return n == 1 || parts_ok(path + 1, n - 1, '/', path_part_ok);
}

bool taskspec_role_valid(const char *role)
{
	if (!text_ok(role, TASKSPEC_ROLE_MAX) || strcmp(role, "*") == 0)
		return false;
	for (const char *c = role; *c; c++)
		if (*c == ' ' || *c == '\t' || *c == '\\')
			return false;
	return parts_ok(role, strlen(role), '/', role_part_ok);
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
			bool keep = text_is_alnum(*c) || *c == '-' || *c == '.' ||
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
		if (!text_is_hex(*c) || (*c >= 'A' && *c <= 'F'))
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

/* ---- values the builders and the configuration take ---------------- */

bool taskspec_uri_valid(const char *u)
{
	if (!text_ok(u, 2048))
		return false;
	if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
		return false;
	return !strchr(u, ' ');
}

bool taskspec_image_ref_valid(const char *ref)
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

bool taskspec_registry_valid(const char *s)
{
	if (!text_ok(s, 2048))
		return false;
	for (const char *c = s; *c; c++)
		if (!text_is_alnum(*c) && !strchr(".-_:,[]", *c))
			return false;
	return true;
}

bool taskspec_ip_valid(const char *s)
{
	if (!text_ok(s, 45))
		return false;
	for (const char *c = s; *c; c++)
		if (!text_is_hex(*c) && *c != '.' && *c != ':')
			return false;
	return true;
}

bool taskspec_hex64_valid(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (const char *c = s; *c; c++)
		if (!text_is_hex(*c))
			return false;
	return true;
}

bool taskspec_bus_url_valid(const char *u)
{
	return text_ok(u, 1024) && strstr(u, "://") && !strchr(u, ' ');
}
