#include "mountinfo.h"

#include "qm_error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *mountinfo_unescape(const char *src, size_t len)
{
	char *out = qm_malloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		const char *d = src + i + 1;
		int c = (unsigned char)src[i];
		if (c == '\\' && i + 3 < len && d[0] >= '0' && d[0] <= '3' &&
		    d[1] >= '0' && d[1] <= '7' && d[2] >= '0' && d[2] <= '7') {
			c = (d[0] - '0') * 64 + (d[1] - '0') * 8 + (d[2] - '0');
			i += 3;
		}
		if (c == 0) {
			free(out);
			return NULL;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

/* Split one line into space-separated fields (the kernel uses exactly one
 * space; tolerate runs). Returns the number found, at most cap. */
static size_t split_fields(const char *line, size_t len, const char **f,
			   size_t *flen, size_t cap)
{
	size_t n = 0, i = 0;
	while (i < len) {
		while (i < len && line[i] == ' ')
			i++;
		if (i >= len)
			break;
		size_t start = i;
		while (i < len && line[i] != ' ')
			i++;
		if (n == cap)
			return cap + 1;
		f[n] = line + start;
		flen[n] = i - start;
		n++;
	}
	return n;
}

static bool parse_uint(const char *s, size_t len, unsigned *out)
{
	if (len == 0 || len > 10)
		return false;
	unsigned long long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 0xffffffffull)
		return false;
	*out = (unsigned)v;
	return true;
}

static bool has_ro_option(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t start = i;
		while (i < len && s[i] != ',')
			i++;
		if (i - start == 2 && s[start] == 'r' && s[start + 1] == 'o')
			return true;
		i++;
	}
	return false;
}

static void entry_free(struct mountinfo_entry *e)
{
	free(e->root);
	free(e->mount_point);
	free(e->fstype);
	free(e->source);
}

/* Fields beyond this are optional fields a sane kernel never emits in such
 * numbers; a line with more is treated as garbage. */
#define MAX_FIELDS 64

static bool parse_line(const char *line, size_t len, struct mountinfo_entry *e)
{
	const char *f[MAX_FIELDS];
	size_t fl[MAX_FIELDS];
	size_t n = split_fields(line, len, f, fl, MAX_FIELDS);
	if (n > MAX_FIELDS || n < 10)
		return false;
	size_t sep = 0;
	for (size_t i = 6; i < n; i++)
		if (fl[i] == 1 && f[i][0] == '-') {
			sep = i;
			break;
		}
	/* after " - ": fstype, source and super options (which may be
	 * missing on very old kernels for some filesystems; accept 2) */
	if (sep == 0 || n < sep + 3)
		return false;

	memset(e, 0, sizeof *e);
	if (!parse_uint(f[0], fl[0], &e->mount_id) ||
	    !parse_uint(f[1], fl[1], &e->parent_id))
		return false;
	const char *colon = memchr(f[2], ':', fl[2]);
	if (!colon)
		return false;
	size_t majlen = (size_t)(colon - f[2]);
	if (!parse_uint(f[2], majlen, &e->major) ||
	    !parse_uint(colon + 1, fl[2] - majlen - 1, &e->minor))
		return false;
	e->read_only = has_ro_option(f[5], fl[5]);
	for (size_t i = 6; i < sep; i++)
		if (fl[i] > 7 && memcmp(f[i], "shared:", 7) == 0)
			e->shared = true;
	e->root = mountinfo_unescape(f[3], fl[3]);
	e->mount_point = mountinfo_unescape(f[4], fl[4]);
	e->fstype = mountinfo_unescape(f[sep + 1], fl[sep + 1]);
	e->source = mountinfo_unescape(f[sep + 2], fl[sep + 2]);
	if (!e->root || !e->mount_point || !e->fstype || !e->source ||
	    e->mount_point[0] != '/' || e->root[0] != '/' ||
	    e->fstype[0] == '\0') {
		entry_free(e);
		memset(e, 0, sizeof *e);
		return false;
	}
	return true;
}

struct id_idx {
	unsigned id;
	size_t idx;
};

static int cmp_id_idx(const void *a, const void *b)
{
	const struct id_idx *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int mountinfo_parse(const char *buf, size_t len, struct mountinfo *out)
{
	memset(out, 0, sizeof *out);
	if (len > MOUNTINFO_MAX_BYTES)
		return QM_ETOOBIG;
	size_t cap = 0, lineno = 0, pos = 0;
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		pos += ll + (nl ? 1 : 0);
		lineno++;
		if (ll == 0)
			continue;
		if (out->n == MOUNTINFO_MAX_ENTRIES) {
			out->truncated = true;
			break;
		}
		struct mountinfo_entry e;
		if (ll > MOUNTINFO_MAX_LINE || memchr(line, '\0', ll) ||
		    !parse_line(line, ll, &e)) {
			if (out->bad_lines++ == 0)
				out->first_bad_line = lineno;
			continue;
		}
		if (out->n == cap) {
			cap = cap ? cap * 2 : 64;
			out->v = qm_realloc(out->v, cap * sizeof *out->v);
		}
		out->v[out->n++] = e;
	}
	struct id_idx *tmp = qm_malloc((out->n ? out->n : 1) * sizeof *tmp);
	for (size_t i = 0; i < out->n; i++) {
		tmp[i].id = out->v[i].mount_id;
		tmp[i].idx = i;
	}
	qsort(tmp, out->n, sizeof *tmp, cmp_id_idx);
	out->by_id = qm_malloc((out->n ? out->n : 1) * sizeof *out->by_id);
	for (size_t i = 0; i < out->n; i++)
		out->by_id[i] = tmp[i].idx;
	free(tmp);
	return 0;
}

void mountinfo_free(struct mountinfo *mi)
{
	if (!mi)
		return;
	for (size_t i = 0; i < mi->n; i++)
		entry_free(&mi->v[i]);
	free(mi->v);
	free(mi->by_id);
	memset(mi, 0, sizeof *mi);
}

long mountinfo_find_id(const struct mountinfo *mi, unsigned mount_id)
{
	size_t lo = 0, hi = mi->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		unsigned v = mi->v[mi->by_id[mid]].mount_id;
		if (v == mount_id)
			return (long)mi->by_id[mid];
		if (v < mount_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Is `prefix` equal to `path` or a parent directory of it, on whole path
 * components? "/" is a prefix of everything. */
static bool path_covers(const char *prefix, const char *path)
{
	size_t pl = strlen(prefix);
	if (pl == 1 && prefix[0] == '/')
		return true;
	if (strncmp(prefix, path, pl) != 0)
		return false;
	return path[pl] == '\0' || path[pl] == '/';
}

/* Walk the parent chain from entry i; true if mount id `anc` is on it.
 * Bounded by n steps so a malformed table with a cycle terminates. */
static bool is_ancestor(const struct mountinfo *mi, size_t i, unsigned anc)
{
	size_t cur = i;
	for (size_t steps = 0; steps <= mi->n; steps++) {
		unsigned pid = mi->v[cur].parent_id;
		if (pid == mi->v[cur].mount_id)
			return false;
		if (pid == anc)
			return true;
		long p = mountinfo_find_id(mi, pid);
		if (p < 0)
			return false;
		cur = (size_t)p;
	}
	return false;
}

bool mountinfo_visible(const struct mountinfo *mi, size_t i)
{
	const struct mountinfo_entry *e = &mi->v[i];
	for (size_t j = 0; j < mi->n; j++) {
		if (j == i)
			continue;
		const struct mountinfo_entry *c = &mi->v[j];
		if (c->mount_id == e->mount_id)
			continue; /* duplicate line; not a distinct mount */
		if (!path_covers(c->mount_point, e->mount_point))
			continue;
		if (!is_ancestor(mi, i, c->mount_id))
			return false;
	}
	return true;
}

int mountinfo_read_fd(int fd, char **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return QM_EIO;
	size_t cap = 64 * 1024, n = 0;
	char *b = qm_malloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap >= MOUNTINFO_MAX_BYTES) {
				free(b);
				return QM_ETOOBIG;
			}
			cap *= 2;
			b = qm_realloc(b, cap + 1);
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			free(b);
			errno = saved;
			return QM_EIO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

long mountinfo_find_path(const struct mountinfo *mi, const char *path)
{
	long best = -1;
	size_t best_len = 0;
	for (size_t i = 0; i < mi->n; i++) {
		const char *m = mi->v[i].mount_point;
		size_t n = strlen(m);
		bool under = strcmp(m, "/") == 0 ||
			     (strncmp(path, m, n) == 0 && (path[n] == '\0' || path[n] == '/'));
		if (under && (best < 0 || n >= best_len)) {
			best = (long)i;
			best_len = strcmp(m, "/") == 0 ? 0 : n;
		}
	}
	return best;
}
