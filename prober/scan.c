#include "scan.h"

#include "log.h"
#include "qm_error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *scan_normalize_path(const char *path)
{
	if (!path || path[0] != '/')
		return NULL;
	size_t len = strlen(path);
	char *out = qm_malloc(len + 2);
	size_t o = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t sl = (size_t)(p - s);
		if (sl == 1 && s[0] == '.')
			continue;
		if (sl == 2 && s[0] == '.' && s[1] == '.') {
			free(out);
			return NULL;
		}
		out[o++] = '/';
		memcpy(out + o, s, sl);
		o += sl;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

static void add_watch(struct scan_result *r, size_t *cap, const char *path,
		      unsigned kind, const char *name)
{
	if (r->n_watch == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		r->watch = qm_realloc(r->watch, *cap * sizeof *r->watch);
	}
	struct scan_watch *w = &r->watch[r->n_watch++];
	w->path = qm_strdup(path);
	w->kind = kind;
	w->name = name ? qm_strdup(name) : NULL;
}

/* Watch the parent of path for the entry named like path's last component
 * (a device dir or client mount point that does not exist yet). */
static void add_parent_watch(struct scan_result *r, size_t *cap, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash[1] == '\0')
		return;
	char *parent = slash == path ? qm_strdup("/")
				     : qm_strndup(path, (size_t)(slash - path));
	add_watch(r, cap, parent, SCAN_WATCH_NAME, slash + 1);
	free(parent);
}

static char *join(const char *dir, const char *name)
{
	if (strcmp(dir, "/") == 0)
		return inv_strf("/%s", name);
	return inv_strf("%s/%s", dir, name);
}

static void scan_device_dir(struct probe_ctx *ctx, struct probe_batch *b,
			    const struct scan_config *cfg, const char *dir,
			    struct scan_result *r, size_t *wcap)
{
	if (!probe_is_dir(ctx, dir)) {
		add_parent_watch(r, wcap, dir);
		return;
	}
	add_watch(r, wcap, dir, SCAN_WATCH_DEVDIR, NULL);
	if (inv_scope_has_path(&cfg->scope, dir))
		probe_batch_dir(b, dir);
	char **names;
	size_t n, dropped;
	if (probe_list_subdirs(ctx, dir, &names, &n, &dropped) != 0) {
		log_debug("device_dir_unreadable", "dir=%s reason=%s",
			  log_qs(dir), log_qs(strerror(errno)));
		return;
	}
	r->subdirs_dropped += dropped;
	for (size_t i = 0; i < n; i++) {
		char *sub = join(dir, names[i]);
		if (inv_scope_has_path(&cfg->scope, sub)) {
			add_watch(r, wcap, sub, SCAN_WATCH_ROOT, NULL);
			probe_batch_dir(b, sub);
		}
		free(sub);
		free(names[i]);
	}
	free(names);
}

int scan_run(struct probe_ctx *ctx, const struct scan_config *cfg,
	     const char *text, size_t len, struct scan_result *r)
{
	memset(r, 0, sizeof *r);
	inv_init(&r->inv);
	probe_scan_begin(ctx);
	size_t wcap = 0;
	struct mountinfo mi;
	int rv = mountinfo_parse(text, len, &mi);
	r->bad_lines = mi.bad_lines;
	r->first_bad_line = mi.first_bad_line;
	r->mountinfo_truncated = mi.truncated;

	struct inv_mount *m = NULL;
	size_t nm = 0;
	if (rv == 0)
		inv_select_mounts(&mi, &cfg->scope, &m, &nm);
	mountinfo_free(&mi);
	r->n_candidates = nm;
	/* only when the table was read: an unreadable table must not make
	 * every cached device look unmounted */
	if (rv == 0)
		probe_cache_retain(ctx, m, nm);
	struct probe_batch *b = probe_batch_begin(ctx);
	for (size_t i = 0; i < nm; i++) {
		/* every candidate is watched, marked or not: the marker that
		 * makes it a device arrives later */
		add_watch(r, &wcap, m[i].mount_point, SCAN_WATCH_ROOT, NULL);
		r->aliases_dropped += m[i].n_aliases_dropped;
		probe_batch_mount(b, &m[i]);
	}
	for (size_t i = 0; i < cfg->n_device_dirs; i++)
		scan_device_dir(ctx, b, cfg, cfg->device_dirs[i], r, &wcap);
	r->probe_timeouts = probe_batch_end(b, &r->inv);
	inv_mounts_free(m, nm);

	if (cfg->client_mount_point) {
		r->inv.client_mount_point = qm_strdup(cfg->client_mount_point);
		r->inv.client_mount_point_exists =
			probe_is_dir(ctx, cfg->client_mount_point);
		add_parent_watch(r, &wcap, cfg->client_mount_point);
	}
	r->markers_pending = probe_scan_end(ctx);
	inv_finalize(&r->inv);
	return rv;
}

void scan_result_free(struct scan_result *r)
{
	inv_fini(&r->inv);
	for (size_t i = 0; i < r->n_watch; i++) {
		free(r->watch[i].path);
		free(r->watch[i].name);
	}
	free(r->watch);
	memset(r, 0, sizeof *r);
}
