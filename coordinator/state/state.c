#include "state/state.h"

#include "qm_error.h"
#include "state/store_file.h"
#include "state/store_zk.h"

#include <string.h>

/* The directory of a file:// URL or plain path, or NULL (err set). */
static const char *file_dir(const char *url, const char *rest, char *err,
			    size_t errlen)
{
	if (!rest)
		return url;
	if (strncmp(rest, "localhost/", 10) == 0)
		rest += 9;
	if (rest[0] != '/') {
		qm_fail(err, errlen, QM_EINVAL,
			"state store URL '%s': use file:///absolute/dir", url);
		return NULL;
	}
	return rest;
}

int state_open(const char *url, const struct zk_opts *opts,
	       struct store **store, struct zk_conn **zk, char *err,
	       size_t errlen)
{
	*store = NULL;
	*zk = NULL;
	if (!url || !*url)
		return qm_fail(err, errlen, QM_EINVAL, "no state store given");
	const char *sep = strstr(url, "://");
	const char *slash = strchr(url, '/');
	const char *rest = NULL; /* after "file://" */
	if (sep && (!slash || sep < slash)) {
		size_t sl = (size_t)(sep - url);
		if (sl == 2 && strncmp(url, "zk", 2) == 0) {
			int rv = zk_conn_open(url, opts, zk, err, errlen);
			if (rv)
				return rv;
			*store = store_zk_new(*zk);
			return 0;
		}
		if (sl != 4 || strncmp(url, "file", 4) != 0)
			return qm_fail(err, errlen, QM_EINVAL,
				       "state store URL '%.64s': unknown scheme (use "
				       "file:///dir, a directory path, or "
				       "zk://host:port/path)", url);
		rest = sep + 3;
	}
	const char *dir = file_dir(url, rest, err, errlen);
	if (!dir)
		return QM_EINVAL;
	return store_file_open(dir, store, err, errlen);
}

void state_close(struct store **store, struct zk_conn **zk)
{
	store_close(*store);
	*store = NULL;
	zk_conn_close(*zk);
	*zk = NULL;
}
