/* The Mesos client's URLs, through libcurl's URL API (curl_url, RFC 3986
 * parsing and relative resolution) rather than by hand. Pure: no I/O, no
 * state; any thread. Results are malloc'd (free them); NULL when an input
 * is unusable. Out of memory aborts (qm_oom). */
#ifndef QM_MESOS_URL_H
#define QM_MESOS_URL_H

#include <stdbool.h>

/* base (the detector's "scheme://host:port") with path ("/version"); NULL
 * if base does not parse (the detector validated it: never expected). */
char *mesos_url_with_path(const char *base, const char *path);
/* Do URLs a and b name the same master: scheme, host (any case) and port,
 * a missing port counted as the scheme's? NULL or unparsable: false. */
bool mesos_url_same_master(const char *a, const char *b);
/* Where a 307 from a master sends us. Location is what Mesos sends,
 * "//host:port/path" (src/master/http.cpp redirect(), 1.4.0 ... 1.11.0:
 * "//" + hostname + ":" + port + the request's path; protocol-relative "to
 * allow the ... HTTP client to prefix with 'http:' or 'https:' depending on
 * the original request"; shared/docs/mesos-v1-scheduler-api.md §1.5), or an
 * absolute http(s):// URL. It is resolved against `leader` (the leader's
 * base URL, never an earlier redirect's target), so "//" keeps the
 * leader's scheme. Unusable (NULL): anything else, a bare path included
 * (Mesos always names the leader), credentials, a host outside
 * [A-Za-z0-9.-] or a bracketed IPv6 address, or longer than 255. No path
 * ("//host:port", Mesos's answer to /redirect) or one longer than 255:
 * default_path. */
char *mesos_url_redirect(const char *leader, const char *loc, const char *default_path);

#endif
