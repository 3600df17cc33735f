#include "state/zk_url.h"

#include "mac.h"
#include "qm_error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Percent-decode [s, s+n) into out[cap]; printable bytes only. */
static bool decode_cred(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return false;
			char hex[3] = {s[i + 1], s[i + 2], '\0'};
			uint8_t b;
			if (mac_hex_decode(hex, &b, 1) != 0)
				return false;
			c = b;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return false;
		if (o + 1 >= cap)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return o > 0;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
	       c == ':';
}

static bool path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int parse_hosts(const char *s, size_t n, struct zk_url *u, char *err,
		       size_t errlen)
{
	size_t o = 0;
	const char *end = s + n;
	if (n == 0)
		return qm_fail(err, errlen, QM_EINVAL,
			    "zk URL: no ZooKeeper host (zk://host:port/path)");
	while (s <= end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *e = comma ? comma : end;
		size_t hl = (size_t)(e - s);
		if (hl == 0)
			return qm_fail(err, errlen, QM_EINVAL,
				    "zk URL: empty host in the host list");
		for (size_t i = 0; i < hl; i++)
			if (!host_char(s[i]))
				return qm_fail(err, errlen, QM_EINVAL,
					    "zk URL: invalid character in host '%.*s'",
					    (int)(hl > 64 ? 64 : hl), s);
		const char *colon = NULL;
		for (const char *q = s; q < e; q++)
			if (*q == ':')
				colon = q;
		int w;
		if (colon) {
			const char *ps = colon + 1;
			size_t pl = (size_t)(e - ps);
			long port = 0;
			bool ok = pl > 0 && pl <= 5 && colon > s;
			for (size_t i = 0; ok && i < pl; i++) {
				if (ps[i] < '0' || ps[i] > '9')
					ok = false;
				else
					port = port * 10 + (ps[i] - '0');
			}
			if (!ok || port < 1 || port > 65535)
				return qm_fail(err, errlen, QM_EINVAL,
					    "zk URL: invalid port in '%.*s' (host:port, "
					    "port 1-65535)", (int)(hl > 64 ? 64 : hl), s);
			w = snprintf(u->hosts + o, sizeof u->hosts - o, "%s%.*s",
				     o ? "," : "", (int)hl, s);
		} else {
			w = snprintf(u->hosts + o, sizeof u->hosts - o, "%s%.*s:%d",
				     o ? "," : "", (int)hl, s, ZK_DEFAULT_PORT);
		}
		if (w < 0 || (size_t)w >= sizeof u->hosts - o)
			return qm_fail(err, errlen, QM_EINVAL,
				    "zk URL: host list longer than %d bytes",
				    ZK_HOSTS_MAX);
		o += (size_t)w;
		if (!comma)
			break;
		s = comma + 1;
	}
	return 0;
}

static int parse_path(const char *p, struct zk_url *u, char *err, size_t errlen)
{
	size_t n = strlen(p);
	if (n <= 1)
		return qm_fail(err, errlen, QM_EINVAL,
			    "zk URL: give a root znode for the coordinator, e.g. "
			    "zk://zk1:2181/quobyte (not '/')");
	if (n > ZK_PATH_MAX)
		return qm_fail(err, errlen, QM_EINVAL,
			    "zk URL: path longer than %d bytes", ZK_PATH_MAX);
	const char *c = p;
	while (*c) {
		if (*c != '/')
			return qm_fail(err, errlen, QM_EINVAL, "zk URL: bad path");
		c++;
		const char *s = c;
		while (*c && *c != '/') {
			if (!path_char(*c))
				return qm_fail(err, errlen, QM_EINVAL,
					    "zk URL: path '%.64s' may only use "
					    "[A-Za-z0-9._-] between slashes", p);
			c++;
		}
		size_t cl = (size_t)(c - s);
		if (cl == 0 || (cl == 1 && s[0] == '.') ||
		    (cl == 2 && s[0] == '.' && s[1] == '.'))
			return qm_fail(err, errlen, QM_EINVAL,
				    "zk URL: path '%.64s' has an empty, '.' or '..' "
				    "component (or a trailing slash)", p);
	}
	memcpy(u->path, p, n + 1);
	return 0;
}

int zk_url_parse(const char *url, struct zk_url *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof *u);
	if (!url || strncmp(url, "zk://", 5) != 0)
		return qm_fail(err, errlen, QM_EINVAL,
			    "zk URL: must start with zk:// (zk://host:port/path)");
	const char *a = url + 5;
	const char *slash = strchr(a, '/');
	if (!slash)
		return qm_fail(err, errlen, QM_EINVAL,
			    "zk URL: no path; use zk://host:port[,host:port...]/path");
	const char *hs = a;
	const char *at = NULL;
	for (const char *q = a; q < slash; q++)
		if (*q == '@')
			at = q;
	if (at) {
		const char *colon = memchr(a, ':', (size_t)(at - a));
		if (!colon || !decode_cred(a, (size_t)(colon - a), u->user,
					   sizeof u->user) ||
		    !decode_cred(colon + 1, (size_t)(at - colon - 1), u->password,
				 sizeof u->password))
			return qm_fail(err, errlen, QM_EINVAL,
				    "zk URL: credentials must be user:password "
				    "(both non-empty, printable, at most %d bytes, "
				    "%%XX-encoded where needed)", ZK_CRED_MAX);
		hs = at + 1;
	}
	int rv = parse_hosts(hs, (size_t)(slash - hs), u, err, errlen);
	if (rv)
		return rv;
	if (strpbrk(slash, "?#"))
		return qm_fail(err, errlen, QM_EINVAL,
			    "zk URL: query and fragment are not supported");
	if ((rv = parse_path(slash, u, err, errlen)))
		return rv;
	snprintf(u->display, sizeof u->display, "zk://%s%s%s%s", u->user,
		 u->user[0] ? ":***@" : "", u->hosts, u->path);
	return 0;
}
