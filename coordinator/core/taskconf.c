/* Task configuration: defaults, checks, and the operator's resource list.
 * See taskconf.h. */
#include "core/taskconf.h"

#include "core/text.h"
#include "core/validate.h"
#include "qm_error.h"

#include <stdio.h>
#include <string.h>

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

int taskspec_prober_conf_validate(const struct taskspec_config *c, char *err,
				  size_t errlen)
{
	switch (c->prober_mode) {
	case TASKSPEC_PROBER_COMMAND:
		if (!taskspec_path_valid(c->prober_command))
			return qm_fail(err, errlen, QM_EINVAL,
				    "prober command must be an absolute path");
		break;
	case TASKSPEC_PROBER_FETCH:
		if (!taskspec_uri_valid(c->prober_uri))
			return qm_fail(err, errlen, QM_EINVAL,
				    "prober URI must be an http:// or https:// "
				    "URL without blanks");
		break;
	case TASKSPEC_PROBER_DOCKER:
		if (!taskspec_image_ref_valid(c->prober_image))
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
	if (text_is_set(c->prober_user) && !text_ok(c->prober_user, 64))
		return qm_fail(err, errlen, QM_EINVAL, "bad prober user");
	return 0;
}

int taskspec_config_validate(const struct taskspec_config *c, char *err,
			     size_t errlen)
{
	if (!taskspec_image_valid(c->image))
		return qm_fail(err, errlen, QM_EINVAL,
			    "image '%s' is not a valid Docker image name "
			    "(lower-case, no tag)", c->image ? c->image : "");
	if (text_is_set(c->extra_service_config) &&
	    (text_has_ctrl(c->extra_service_config) ||
	     strlen(c->extra_service_config) > 4096))
		return qm_fail(err, errlen, QM_EINVAL,
			    "extra service config must be one line of at most "
			    "4096 bytes without control characters");
	if (!taskspec_path_valid(c->client_mount_point))
		return qm_fail(err, errlen, QM_EINVAL,
			    "client mount point must be an absolute path "
			    "without ':' ',' '..' or control characters");
	if (text_is_set(c->config_host_dir) && !taskspec_path_valid(c->config_host_dir))
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
	return taskspec_prober_conf_validate(c, err, errlen);
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
