#include "mesos/detspec.h"

#include "qm_error.h"
#include "state/zk.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASTERINFO_MAX (64u * 1024u)
#define DEFAULT_PORT   5050

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

/* "host:port", "[v6]:port", "host" -> "scheme://host:port". */
static int parse_url(const char *s, size_t n, char *out, size_t cap, char *why, size_t wl)
{
	const char *scheme = "http";
	if (n >= 7 && strncmp(s, "http://", 7) == 0) {
		s += 7;
		n -= 7;
	} else if (n >= 8 && strncmp(s, "https://", 8) == 0) {
		scheme = "https";
		s += 8;
		n -= 8;
	} else if (memmem(s, n, "://", 3)) {
		snprintf(why, wl,
			 "only http:// and https:// masters (or one zk:// URL) are supported");
		return QM_EINVAL;
	}
	/* an optional trailing "/" and nothing else: the scheduler path is ours */
	const char *slash = memchr(s, '/', n);
	if (slash) {
		if ((size_t)(slash - s) != n - 1) {
			snprintf(why, wl,
				 "a master URL has no path (the API is at /api/v1/scheduler)");
			return QM_EINVAL;
		}
		n--;
	}
	size_t hl;
	const char *colon;
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close || close == s + 1) {
			snprintf(why, wl, "bad IPv6 address");
			return QM_EINVAL;
		}
		for (const char *p = s + 1; p < close; p++)
			if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
			      (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.')) {
				snprintf(why, wl, "bad IPv6 address");
				return QM_EINVAL;
			}
		hl = (size_t)(close - s) + 1;
		colon = hl < n ? s + hl : NULL;
		if (colon && *colon != ':') {
			snprintf(why, wl, "expected ':' after the IPv6 address");
			return QM_EINVAL;
		}
	} else {
		colon = memchr(s, ':', n);
		hl = colon ? (size_t)(colon - s) : n;
		for (size_t i = 0; i < hl; i++)
			if (!host_char(s[i])) {
				snprintf(why, wl, "bad character in host name");
				return QM_EINVAL;
			}
	}
	if (hl == 0) {
		snprintf(why, wl, "no host");
		return QM_EINVAL;
	}
	if (hl > 253) {
		snprintf(why, wl, "host name longer than 253 characters");
		return QM_EINVAL;
	}
	long port = DEFAULT_PORT;
	if (colon) {
		const char *p = colon + 1;
		size_t pl = n - (size_t)(p - s);
		port = 0;
		if (pl == 0 || pl > 5) {
			snprintf(why, wl, "bad port");
			return QM_EINVAL;
		}
		for (size_t i = 0; i < pl; i++) {
			if (p[i] < '0' || p[i] > '9') {
				snprintf(why, wl, "bad port");
				return QM_EINVAL;
			}
			port = port * 10 + (p[i] - '0');
		}
		if (port < 1 || port > 65535) {
			snprintf(why, wl, "port out of range 1..65535");
			return QM_EINVAL;
		}
	}
	snprintf(out, cap, "%s://%.*s:%ld", scheme, (int)hl, s, port);
	return 0;
}

int det_spec_parse(const char *master, const char *scheme, struct det_spec *out, char *err,
		   size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (scheme && strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(err, errlen, "master scheme '%.20s' is neither http nor https", scheme);
		return QM_EINVAL;
	}
	snprintf(out->scheme, sizeof out->scheme, "%s", scheme ? scheme : "http");
	if (!master || !*master) {
		snprintf(err, errlen, "no master given");
		return QM_EINVAL;
	}
	if (strlen(master) > 1000) {
		snprintf(err, errlen, "master longer than 1000 characters");
		return QM_EINVAL;
	}
	for (const char *p = master; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(err, errlen,
				 "master '%.80s' contains a blank or control character", master);
			return QM_EINVAL;
		}
	if (strncmp(master, "zk://", 5) == 0) {
		struct zk_url u;
		char why[256];
		if (zk_url_parse(master, &u, why, sizeof why) != 0) {
			snprintf(err, errlen, "%s", why);
			return QM_EINVAL;
		}
		out->kind = DET_ZK;
		snprintf(out->zk, sizeof out->zk, "%s", master);
		snprintf(out->display, sizeof out->display, "%.1000s", u.display);
		return 0;
	}
	out->kind = DET_URLS;
	const char *p = master;
	for (size_t i = 1;; i++) {
		size_t n = strcspn(p, ",");
		char why[160];
		if (n == 0) {
			snprintf(err, errlen, "master list entry %zu is empty", i);
			return QM_EINVAL;
		}
		if (out->nurls == DET_MAX_URLS) {
			snprintf(err, errlen, "more than %d masters in the list", DET_MAX_URLS);
			return QM_EINVAL;
		}
		if (parse_url(p, n, out->urls[out->nurls], sizeof out->urls[0], why, sizeof why)) {
			if (i == 1 && !p[n])
				snprintf(err, errlen, "master '%.*s': %s", (int)(n > 200 ? 200 : n),
					 p, why);
			else
				snprintf(err, errlen, "master list entry %zu '%.*s': %s", i,
					 (int)(n > 200 ? 200 : n), p, why);
			return QM_EINVAL;
		}
		out->nurls++;
		if (!p[n])
			break;
		p += n + 1;
	}
	snprintf(out->display, sizeof out->display, "%s", master);
	return 0;
}

/* A JSON number that is a whole number in lo..hi, else -1. */
static long long json_int(const cJSON *j, long long lo, long long hi)
{
	if (!cJSON_IsNumber(j))
		return -1;
	double v = j->valuedouble;
	if (v < (double)lo || v > (double)hi || v != (double)(long long)v)
		return -1;
	return (long long)v;
}

/* "host:port" with an IPv6 address in brackets. */
static void host_port(char *out, size_t cap, const char *host, long long port)
{
	bool v6 = strchr(host, ':') != NULL && host[0] != '[';
	snprintf(out, cap, "%s%.253s%s:%lld", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* MasterInfo (include/mesos/mesos.proto at 1.4.0 and 1.11.0: required id,
 * ip, port; optional pid, hostname, version, address, domain; 1.11 adds
 * capabilities), as JSON in a json.info_ znode: the master's contender
 * writes stringify(JSON::protobuf(info_)) (src/master/contender/
 * zookeeper.cpp), and src/master/master.cpp fills info_ from its own UPID:
 * ip = self().address.ip.in()->s_addr (network byte order, MESOS-1201),
 * port, pid "master@ip:port", address {ip as text, port, hostname}. So
 * address, pid and ip/port name the same endpoint; Mesos's scheduler
 * library (src/scheduler/scheduler.cpp, detected()) connects to the pid's.
 * We prefer address (the non-deprecated field), then pid, then ip/port,
 * then hostname (older or hand-written data). Lenient where Mesos is
 * strict: a missing id is no error here (::protobuf::parse would refuse
 * it), since only the address matters to us. */
int det_masterinfo_parse(const char *json, size_t len, const char *scheme, struct det_leader *out,
			 char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (len > MASTERINFO_MAX) {
		snprintf(err, errlen, "MasterInfo of %zu bytes (more than %u)", len,
			 MASTERINFO_MAX);
		return QM_EINVAL;
	}
	if (!json || len == 0) {
		snprintf(err, errlen, "empty (no MasterInfo JSON)");
		return QM_EINVAL;
	}
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!j) {
		size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
		snprintf(err, errlen, "not JSON (error at byte %zu of %zu)", at, len);
		return QM_EINVAL;
	}
	/* stout's JSON::parse (3rdparty/stout/include/stout/json.hpp, 1.4.0 and
	 * 1.11.0) refuses non-whitespace trailing characters too */
	for (const char *p = end; p && p < json + len; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			cJSON_Delete(j);
			snprintf(err, errlen, "not JSON (trailing characters at byte %zu of %zu)",
				 (size_t)(p - json), len);
			return QM_EINVAL;
		}
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		snprintf(err, errlen, "JSON but not an object");
		return QM_EINVAL;
	}
	const char *sch = scheme && *scheme ? scheme : "http";
	const cJSON *addr = cJSON_GetObjectItemCaseSensitive(j, "address");
	const cJSON *aip = cJSON_GetObjectItemCaseSensitive(addr, "ip");
	const cJSON *ahost = cJSON_GetObjectItemCaseSensitive(addr, "hostname");
	long long aport = json_int(cJSON_GetObjectItemCaseSensitive(addr, "port"), 1, 65535);
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "pid");
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(j, "hostname");
	long long port = json_int(cJSON_GetObjectItemCaseSensitive(j, "port"), 1, 65535);
	long long ip = json_int(cJSON_GetObjectItemCaseSensitive(j, "ip"), 1, 0xffffffffLL);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
	char hp[300] = "";
	const char *from = NULL;
	if (cJSON_IsString(aip) && aip->valuestring[0] && aport > 0) {
		host_port(hp, sizeof hp, aip->valuestring, aport);
		from = "address";
	} else if (cJSON_IsString(pid) && strchr(pid->valuestring, '@')) {
		snprintf(hp, sizeof hp, "%.280s", strchr(pid->valuestring, '@') + 1);
		from = "pid";
	} else if (ip > 0 && port > 0) {
		/* s_addr read as a host integer: the first octet is the lowest
		 * byte on the little-endian hosts Mesos runs on */
		unsigned long long v = (unsigned long long)ip;
		snprintf(hp, sizeof hp, "%llu.%llu.%llu.%llu:%lld", v & 0xff, (v >> 8) & 0xff,
			 (v >> 16) & 0xff, (v >> 24) & 0xff, port);
		from = "ip";
	} else if (cJSON_IsString(ahost) && ahost->valuestring[0] && aport > 0) {
		host_port(hp, sizeof hp, ahost->valuestring, aport);
		from = "address.hostname";
	} else if (cJSON_IsString(host) && host->valuestring[0] && port > 0) {
		host_port(hp, sizeof hp, host->valuestring, port);
		from = "hostname";
	}
	if (!from) {
		snprintf(err, errlen,
			 "no address: none of address.ip, pid, ip or hostname "
			 "with a port 1..65535");
		cJSON_Delete(j);
		return QM_EINVAL;
	}
	char why[160];
	if (strstr(hp, "://")) {
		/* host:port only: the scheme is --master-scheme's, never the
		 * znode's (whoever can write to ZooKeeper must not pick it) */
		snprintf(err, errlen, "%s '%.100s': not host:port", from, hp);
		cJSON_Delete(j);
		return QM_EINVAL;
	}
	if (parse_url(hp, strlen(hp), out->url, sizeof out->url, why, sizeof why) != 0) {
		snprintf(err, errlen, "%s '%.100s': %s", from, hp, why);
		cJSON_Delete(j);
		return QM_EINVAL;
	}
	if (strcmp(sch, "https") == 0) {
		char tmp[DET_URL_MAX + 2];
		snprintf(tmp, sizeof tmp, "https%s", out->url + 4);
		if (strlen(tmp) > DET_URL_MAX) {
			snprintf(err, errlen, "address too long");
			cJSON_Delete(j);
			return QM_EINVAL;
		}
		memcpy(out->url, tmp, strlen(tmp) + 1);
	}
	if (cJSON_IsString(id))
		snprintf(out->id, sizeof out->id, "%s", id->valuestring);
	if (cJSON_IsString(ver))
		snprintf(out->version, sizeof out->version, "%s", ver->valuestring);
	const cJSON *hn = cJSON_IsString(host) ? host : cJSON_IsString(ahost) ? ahost : NULL;
	if (hn)
		snprintf(out->hostname, sizeof out->hostname, "%s", hn->valuestring);
	cJSON_Delete(j);
	return 0;
}

/* stout's numify<int32_t> (3rdparty/stout/include/stout/numify.hpp, 1.4.0
 * and 1.11.0): boost::lexical_cast (an optional sign, then decimal digits
 * and nothing else, within int32), or hexadecimal after "0x" or "-0x". */
static bool numify_i32(const char *s, size_t n, long *out)
{
	size_t i = 0;
	bool neg = false, plus = false;
	if (i < n && (s[i] == '-' || s[i] == '+')) {
		neg = s[i] == '-';
		plus = !neg;
		i++;
	}
	int base = 10;
	if (!plus && n - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
		base = 16;
		i += 2;
	}
	if (i == n)
		return false;
	long long v = 0;
	for (; i < n; i++) {
		int d;
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (base == 16 && s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else if (base == 16 && s[i] >= 'A' && s[i] <= 'F')
			d = s[i] - 'A' + 10;
		else
			return false;
		v = v * base + d;
		if (v > 2147483648LL)
			return false;
	}
	if (neg)
		v = -v;
	if (v > 2147483647LL || (base == 16 && v < -2147483647LL))
		return false;
	*out = (long)v;
	return true;
}

long det_group_leader(const char *const *names, size_t n, char *label, size_t labelcap)
{
	long best = -1, bestseq = 0;
	const char *blabel = NULL;
	size_t blabel_len = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = names[i];
		size_t len = strlen(s), ntok = 0, first_len = 0, last_len = 0;
		const char *first = NULL, *last = NULL;
		/* stout strings::tokenize(name, "_"): empty pieces dropped */
		for (size_t a = 0; a < len;) {
			if (s[a] == '_') {
				a++;
				continue;
			}
			size_t b = a;
			while (b < len && s[b] != '_')
				b++;
			if (ntok++ == 0) {
				first = s + a;
				first_len = b - a;
			}
			last = s + a;
			last_len = b - a;
			a = b;
		}
		long seq;
		if (ntok == 0 || !numify_i32(last, last_len, &seq))
			continue; /* "log_replicas" and the like: no member */
		/* group.cpp keeps one label per sequence in a hashmap, the child
		 * listed later overwriting: so a tie goes to the later name */
		if (best < 0 || seq <= bestseq) {
			best = (long)i;
			bestseq = seq;
			blabel = ntok > 1 ? first : NULL;
			blabel_len = ntok > 1 ? first_len : 0;
		}
	}
	if (label && labelcap)
		snprintf(label, labelcap, "%.*s", (int)blabel_len, blabel ? blabel : "");
	return best;
}
