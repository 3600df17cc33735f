/* quobyte-server-standin: a stand-in for the quobyte-server image's entry
 * point, for tests only. It is NOT Quobyte: it stores nothing and speaks no
 * Quobyte RPC. It does what the coordinator and the emulator can observe of
 * a Quobyte service started from `taskspec_service_task`
 * (coordinator/core/taskspec.c):
 *
 *  - configured by environment only (QUOBYTE_SERVICE, QUOBYTE_RPC_PORT /
 *    QUOBYTE_API_PORT / QUOBYTE_WEBCONSOLE_PORT, QUOBYTE_HTTP_PORT, ...);
 *  - listens on its main port and its status port (TCP, 0.0.0.0) and
 *    answers HTTP on both: `GET /` is the health check (200 "ok", or 503
 *    when QUOBYTE_STANDIN_UNHEALTHY is set), `GET /report` a JSON report of
 *    what the process sees (its environment, the Quobyte devices mounted in
 *    its mount namespace, the client's mount), anything else 404;
 *  - the client service mounts a tmpfs at QUOBYTE_MOUNT_POINT (default
 *    /quobyte), as the real client mounts the namespace there, and unmounts
 *    it at exit;
 *  - SIGTERM/SIGINT: clean up, exit 0. Test knobs:
 *    QUOBYTE_STANDIN_IGNORE_TERM=1 ignores SIGTERM (kill grace tests),
 *    QUOBYTE_STANDIN_EXIT=N exits with N shortly after start.
 *
 * Built static (libc only) so the image needs nothing but this file. One
 * thread, one poll loop; signal handlers only set a flag (the signals are
 * blocked except inside ppoll, so a signal can never be lost between the
 * flag test and the wait). Every connection has a deadline and a request
 * cap, and when all connection slots are taken the oldest connection is
 * dropped, so silent or garbage-sending clients cannot wedge the health
 * check. Out of memory: abort with a message (xmalloc).
 *
 * Logs one line per notable event on stderr:
 *   quobyte-server-standin: level=info event=listening service=data port=...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PROG "quobyte-server-standin"
#define MAX_CONNS 64
#define REQ_MAX 8192		     /* request line + headers */
#define CONN_TIMEOUT_MS 2000	     /* whole request, from accept */
#define REPORT_MAX (4 * 1024 * 1024) /* JSON report */
#define MARKER_FILE "QUOBYTE_DEV_SETUP"
#define MARKER_MAX (64 * 1024) /* as common/marker.h MARKER_MAX_BYTES */
#define MAX_TYPES 8
#define MAX_MOUNTS 16384
#define EXIT_DELAY_MS 300 /* QUOBYTE_STANDIN_EXIT: "a moment after start" */

extern char **environ;

/* ---------------------------------------------------------------- log */

static void logf_(const char *level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void logf_(const char *level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, PROG ": level=%s %s\n", level, line);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, PROG ": level=fatal event=out_of_memory\n");
		abort();
	}
	return q;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xrealloc(NULL, n), s, n);
}

/* ------------------------------------------------- bounded text buffer */

/* Grows up to max bytes; past that it sets overflow and drops the rest
 * (the caller checks overflow once at the end). */
struct buf {
	char *p;
	size_t len, cap, max;
	bool overflow;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->overflow || n > b->max - b->len) {
		b->overflow = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		b->overflow = true; /* only used for short numeric fields */
		return;
	}
	buf_add(b, tmp, (size_t)n);
}

/* A JSON string (RFC 8259 §7): quote, backslash and control characters
 * escaped; other bytes copied (the report only carries what the kernel and
 * the environment hold, which is not guaranteed UTF-8: bytes >= 0x80 that
 * do not form UTF-8 are replaced by U+FFFD so the output stays valid). */
static void buf_json_str(struct buf *b, const char *s)
{
	buf_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			buf_add(b, e, 2);
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(b, "\\u%04x", c);
			p++;
		} else if (c < 0x80) {
			buf_add(b, (const char *)p, 1);
			p++;
		} else {
			size_t n = c >= 0xf0 && c <= 0xf4 ? 4
				   : c >= 0xe0		  ? 3
				   : c >= 0xc2 && c <= 0xdf ? 2
							    : 0;
			size_t i = 1;
			while (n && i < n && (p[i] & 0xc0) == 0x80)
				i++;
			/* no overlong forms, surrogates or code points past
			 * U+10FFFF (RFC 3629 §4) */
			unsigned char c1 = p[1];
			bool bad2 = (c == 0xe0 && c1 < 0xa0) ||
				    (c == 0xed && c1 > 0x9f) ||
				    (c == 0xf0 && c1 < 0x90) ||
				    (c == 0xf4 && c1 > 0x8f);
			if (n && i == n && !bad2) {
				buf_add(b, (const char *)p, n);
				p += n;
			} else {
				/* like Python's errors="replace": a bad lead
				 * byte is one U+FFFD, its tail is judged anew */
				buf_puts(b, "\\ufffd");
				p += bad2 ? 1 : i;
			}
		}
	}
	buf_add(b, "\"", 1);
}

/* ----------------------------------------------------------- services */

/* What each service listens on, as taskspec_service_task configures it.
 * The client's main (rpc) port is optional: its default configuration has
 * only the status port (55000). */
static const struct service {
	const char *name;
	const char *port_env; /* main port */
	bool port_required;
	bool http; /* takes QUOBYTE_HTTP_PORT */
} services[] = {
	{"registry", "QUOBYTE_RPC_PORT", true, true},
	{"metadata", "QUOBYTE_RPC_PORT", true, true},
	{"data", "QUOBYTE_RPC_PORT", true, true},
	{"api", "QUOBYTE_API_PORT", true, false},
	{"webconsole", "QUOBYTE_WEBCONSOLE_PORT", true, false},
	{"client", "QUOBYTE_RPC_PORT", false, true},
};

static const struct service *service_find(const char *name)
{
	for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
		if (!strcmp(services[i].name, name))
			return &services[i];
	return NULL;
}

/* 0 = unset; 1..65535 = port; -1 = invalid (message logged). */
static int port_from_env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return 0;
	char *end;
	errno = 0;
	long p = strtol(v, &end, 10);
	if (errno || *end || end == v || p < 1 || p > 65535 || v[0] == '+' ||
	    v[0] == '-' || v[0] == ' ') {
		fprintf(stderr, PROG ": %s='%.64s' is not a port (1..65535)\n",
			name, v);
		return -1;
	}
	return (int)p;
}

static bool env_true(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0");
}

/* ------------------------------------------------------- mount points */

struct mnt {
	char *path;
	char *fstype;
};

static int mnt_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mnt *)a)->path,
		      ((const struct mnt *)b)->path);
}

/* Undoes the kernel's octal escapes in mountinfo (space, tab, newline and
 * backslash are written as \040 \011 \012 \134; see show_mountinfo and
 * mangle() in the kernel's fs/proc_namespace.c). In place. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' &&
		    r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 +
				      (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static void mnts_free(struct mnt *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].path);
		free(m[i].fstype);
	}
	free(m);
}

/* Every mount point of this mount namespace, once each (a path mounted
 * over takes the fstype of the mount on top: mountinfo lists parents
 * before children), sorted by path. Returns the count, -1 if mountinfo
 * cannot be read. */
static long mnts_read(struct mnt **out)
{
	*out = NULL;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	struct mnt *m = NULL;
	size_t n = 0, cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	while (getline(&line, &lcap, f) > 0 && n < MAX_MOUNTS) {
		/* id parent maj:min root mount-point opts [optional...] -
		 * fstype source super-opts */
		char *save, *tok = strtok_r(line, " \n", &save);
		char *mp = NULL, *fstype = NULL;
		for (int i = 0; tok; i++, tok = strtok_r(NULL, " \n", &save)) {
			if (i == 4)
				mp = tok;
			if (i > 5 && !strcmp(tok, "-")) {
				fstype = strtok_r(NULL, " \n", &save);
				break;
			}
		}
		if (!mp || !fstype)
			continue;
		unescape_octal(mp);
		size_t i;
		for (i = 0; i < n; i++)
			if (!strcmp(m[i].path, mp))
				break;
		if (i < n) {
			free(m[i].fstype);
			m[i].fstype = xstrdup(fstype);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			m = xrealloc(m, cap * sizeof *m);
		}
		m[n].path = xstrdup(mp);
		m[n].fstype = xstrdup(fstype);
		n++;
	}
	free(line);
	fclose(f);
	qsort(m, n, sizeof *m, mnt_cmp);
	*out = m;
	return (long)n;
}

/* The device.type values of a marker (trimmed), read with a cap. Returns
 * the number found (at most max). */
static size_t marker_types(const char *path, char types[][64], size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return 0;
	static char data[MARKER_MAX + 1];
	size_t len = 0;
	ssize_t r;
	while (len < MARKER_MAX &&
	       (r = read(fd, data + len, MARKER_MAX - len)) > 0)
		len += (size_t)r;
	close(fd);
	data[len] = '\0';
	size_t n = 0;
	char *save;
	for (char *l = strtok_r(data, "\r\n", &save); l && n < max;
	     l = strtok_r(NULL, "\r\n", &save)) {
		while (*l == ' ' || *l == '\t')
			l++;
		char *eq = strchr(l, '=');
		if (!eq || *l == '#')
			continue;
		char *k_end = eq;
		while (k_end > l && (k_end[-1] == ' ' || k_end[-1] == '\t'))
			k_end--;
		if ((size_t)(k_end - l) != strlen("device.type") ||
		    strncmp(l, "device.type", (size_t)(k_end - l)))
			continue;
		char *v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t vl = strlen(v);
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (vl >= 64)
			vl = 63;
		memcpy(types[n], v, vl);
		types[n][vl] = '\0';
		n++;
	}
	return n;
}

/* ------------------------------------------------------------- report */

static const struct service *svc;
static char client_mp[PATH_MAX];
static bool client_mounted_by_us;

static int env_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool env_reported(const char *kv)
{
	return !strncmp(kv, "QUOBYTE_", 8) || !strncmp(kv, "HOST=", 5) ||
	       !strncmp(kv, "HOST_IP=", 8);
}

/* The /report body, built fresh (devices mounted a moment ago included).
 * Returns false if it would exceed REPORT_MAX. */
static bool report_build(struct buf *b)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	const char *ver = getenv("QUOBYTE_STANDIN_VERSION");

	buf_puts(b, "{\"standin\":true,\"service\":");
	buf_json_str(b, svc->name);
	buf_puts(b, ",\"version\":");
	if (ver)
		buf_json_str(b, ver);
	else
		buf_puts(b, "null");
	buf_printf(b, ",\"pid\":%ld,\"hostname\":", (long)getpid());
	buf_json_str(b, host);

	/* env: QUOBYTE_*, HOST, HOST_IP, sorted by name */
	size_t ne = 0;
	for (char **e = environ; *e; e++)
		ne++;
	char **ev = xrealloc(NULL, (ne + 1) * sizeof *ev);
	size_t k = 0;
	for (char **e = environ; *e; e++)
		if (env_reported(*e) && strchr(*e, '='))
			ev[k++] = *e;
	qsort(ev, k, sizeof *ev, env_cmp);
	buf_puts(b, ",\"env\":{");
	for (size_t i = 0; i < k; i++) {
		const char *eq = strchr(ev[i], '=');
		char name[256];
		size_t nl = (size_t)(eq - ev[i]);
		if (nl >= sizeof name)
			nl = sizeof name - 1;
		memcpy(name, ev[i], nl);
		name[nl] = '\0';
		if (i)
			buf_puts(b, ",");
		buf_json_str(b, name);
		buf_puts(b, ":");
		buf_json_str(b, eq + 1);
	}
	buf_puts(b, "}");
	free(ev);

	/* devices: mount points whose root holds the marker */
	struct mnt *m;
	long nm = mnts_read(&m);
	buf_puts(b, ",\"devices\":[");
	bool first = true, client_mounted = false;
	const char *client_fstype = NULL;
	for (long i = 0; i < nm; i++) {
		if (svc && client_mp[0] && !strcmp(m[i].path, client_mp)) {
			client_mounted = true;
			client_fstype = m[i].fstype;
		}
		char marker[PATH_MAX + sizeof MARKER_FILE + 2];
		struct stat st;
		snprintf(marker, sizeof marker, "%s/%s",
			 strcmp(m[i].path, "/") ? m[i].path : "", MARKER_FILE);
		if (stat(marker, &st) || !S_ISREG(st.st_mode))
			continue;
		char types[MAX_TYPES][64];
		size_t nt = marker_types(marker, types, MAX_TYPES);
		struct statvfs vs;
		bool have_vfs = !statvfs(m[i].path, &vs);
		buf_puts(b, first ? "{\"path\":" : ",{\"path\":");
		first = false;
		buf_json_str(b, m[i].path);
		buf_puts(b, ",\"mount_point\":true,\"fstype\":");
		buf_json_str(b, m[i].fstype);
		if (have_vfs)
			buf_printf(b, ",\"bytes_free\":%llu,\"bytes_total\":%llu",
				   (unsigned long long)vs.f_bavail * vs.f_frsize,
				   (unsigned long long)vs.f_blocks * vs.f_frsize);
		else
			buf_puts(b, ",\"bytes_free\":null,\"bytes_total\":null");
		buf_puts(b, ",\"type\":");
		if (nt)
			buf_json_str(b, types[0]);
		else
			buf_puts(b, "null");
		buf_puts(b, ",\"types\":[");
		for (size_t t = 0; t < nt; t++) {
			if (t)
				buf_puts(b, ",");
			buf_json_str(b, types[t]);
		}
		buf_puts(b, "]}");
	}
	buf_puts(b, "]");
	if (nm < 0)
		buf_puts(b, ",\"mountinfo_error\":true");
	if (client_mp[0]) {
		buf_puts(b, ",\"client\":{\"mount_point\":");
		buf_json_str(b, client_mp);
		buf_printf(b, ",\"mounted\":%s,\"fstype\":",
			   client_mounted ? "true" : "false");
		if (client_fstype)
			buf_json_str(b, client_fstype);
		else
			buf_puts(b, "null");
		buf_puts(b, "}");
	}
	buf_puts(b, "}\n");
	if (nm > 0)
		mnts_free(m, (size_t)nm);
	else
		free(m);
	return !b->overflow;
}

/* -------------------------------------------------------------- client */

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return -1;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		return -1;
	return 0;
}

/* The client's "namespace mount": a small tmpfs, with a file naming the
 * host it was mounted from, so a test can tell it apart on the host. */
static int client_mount(void)
{
	if (mkdir_p(client_mp)) {
		logf_("error", "event=client_mount_failed path=%s step=mkdir "
			       "error=\"%s\"",
		      client_mp, strerror(errno));
		return -1;
	}
	if (mount("quobyte-standin", client_mp, "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=16m,mode=0755")) {
		logf_("error", "event=client_mount_failed path=%s step=mount "
			       "error=\"%s\"",
		      client_mp, strerror(errno));
		return -1;
	}
	client_mounted_by_us = true;
	char host[256] = "", file[PATH_MAX + 32];
	gethostname(host, sizeof host - 1);
	snprintf(file, sizeof file, "%s/.quobyte-standin", client_mp);
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || dprintf(fd, "%s\n", host) < 0) {
		logf_("error", "event=client_mount_failed path=%s step=write "
			       "error=\"%s\"",
		      file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	logf_("info", "event=client_mounted path=%s fstype=tmpfs", client_mp);
	return 0;
}

static void client_unmount(void)
{
	if (!client_mounted_by_us)
		return;
	client_mounted_by_us = false;
	if (umount2(client_mp, MNT_DETACH))
		logf_("error", "event=client_unmount_failed path=%s error=\"%s\"",
		      client_mp, strerror(errno));
	else
		logf_("info", "event=client_unmounted path=%s", client_mp);
}

/* ------------------------------------------------------------ network */

struct conn {
	int fd;
	int port; /* local port it came in on (for logs) */
	unsigned long long seq; /* accept order: the lowest is the oldest */
	long long deadline_ms;
	char in[REQ_MAX + 1];
	size_t inlen;
	char *out; /* response; writing when non-NULL */
	size_t outlen, outoff;
};

static struct conn conns[MAX_CONNS];
static int lfds[2] = {-1, -1}, lports[2];
static volatile sig_atomic_t got_signal;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig) { got_signal = sig; }

static int listen_on(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_ANY)};
	if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 128)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->inlen = c->outlen = c->outoff = 0;
}

static void conn_respond(struct conn *c, int code, const char *reason,
			 const char *ctype, const char *body, size_t blen,
			 bool head)
{
	struct buf b = {.max = REPORT_MAX + 1024};
	buf_printf(&b,
		   "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n"
		   "Content-Length: %zu\r\nConnection: close\r\n"
		   "Server: " PROG "\r\n\r\n",
		   code, reason, ctype, blen);
	if (!head)
		buf_add(&b, body, blen);
	c->out = b.p;
	c->outlen = b.len;
	c->outoff = 0;
}

static void respond_text(struct conn *c, int code, const char *reason,
			 const char *body, bool head)
{
	conn_respond(c, code, reason, "text/plain", body, strlen(body), head);
}

/* A complete request head is in c->in: route it. */
static void conn_handle(struct conn *c)
{
	char *eol = strpbrk(c->in, "\r\n");
	if (eol)
		*eol = '\0';
	char *save, *method = strtok_r(c->in, " ", &save);
	char *target = method ? strtok_r(NULL, " ", &save) : NULL;
	char *version = target ? strtok_r(NULL, " ", &save) : NULL;
	if (!version || strncmp(version, "HTTP/", 5) || strtok_r(NULL, " ", &save) ||
	    target[0] != '/') {
		logf_("warn", "event=bad_request port=%d", c->port);
		respond_text(c, 400, "Bad Request", "bad request\n", false);
		return;
	}
	bool head = !strcmp(method, "HEAD");
	if (!head && strcmp(method, "GET")) {
		logf_("warn", "event=bad_method port=%d", c->port);
		respond_text(c, 405, "Method Not Allowed", "method not allowed\n",
			     false);
		return;
	}
	target[strcspn(target, "?#")] = '\0';
	if (!strcmp(target, "/")) {
		if (env_true("QUOBYTE_STANDIN_UNHEALTHY"))
			respond_text(c, 503, "Service Unavailable", "unhealthy\n",
				     head);
		else
			respond_text(c, 200, "OK", "ok\n", head);
	} else if (!strcmp(target, "/report")) {
		struct buf r = {.max = REPORT_MAX};
		if (report_build(&r)) {
			conn_respond(c, 200, "OK", "application/json", r.p,
				     r.len, head);
		} else {
			logf_("error", "event=report_too_large max=%d",
			      REPORT_MAX);
			respond_text(c, 500, "Internal Server Error",
				     "report too large\n", head);
		}
		free(r.p);
	} else {
		respond_text(c, 404, "Not Found", "not found\n", head);
	}
}

static void conn_read(struct conn *c)
{
	ssize_t r = recv(c->fd, c->in + c->inlen, REQ_MAX - c->inlen, 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		/* a TCP health check connects and closes: not worth a line */
		if (c->inlen)
			logf_("warn", "event=request_incomplete port=%d bytes=%zu",
			      c->port, c->inlen);
		conn_close(c);
		return;
	}
	c->inlen += (size_t)r;
	c->in[c->inlen] = '\0';
	if (memchr(c->in, '\0', c->inlen)) {
		logf_("warn", "event=bad_request port=%d reason=nul_byte",
		      c->port);
		respond_text(c, 400, "Bad Request", "bad request\n", false);
	} else if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n")) {
		conn_handle(c);
	} else if (c->inlen >= REQ_MAX) {
		logf_("warn", "event=request_too_large port=%d max=%d", c->port,
		      REQ_MAX);
		respond_text(c, 431, "Request Header Fields Too Large",
			     "request too large\n", false);
	}
}

static void conn_write(struct conn *c)
{
	ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
			 MSG_NOSIGNAL);
	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w < 0) {
		logf_("warn", "event=write_failed port=%d error=\"%s\"", c->port,
		      strerror(errno));
		conn_close(c);
		return;
	}
	c->outoff += (size_t)w;
	if (c->outoff == c->outlen) {
		shutdown(c->fd, SHUT_WR);
		conn_close(c);
	}
}

static void accept_all(int li)
{
	for (;;) {
		int fd = accept4(lfds[li], NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				logf_("warn", "event=accept_failed port=%d "
					      "error=\"%s\"",
				      lports[li], strerror(errno));
			return;
		}
		/* a free slot, else the oldest connection makes room. Age is
		 * the accept order, not the deadline: a burst accepted within
		 * one millisecond has equal deadlines, and a tie would evict
		 * the connection just accepted into the first slot. */
		static unsigned long long next_seq;
		struct conn *c = NULL, *oldest = &conns[0];
		for (int i = 0; i < MAX_CONNS && !c; i++) {
			if (conns[i].fd < 0)
				c = &conns[i];
			else if (conns[i].seq < oldest->seq)
				oldest = &conns[i];
		}
		if (!c) {
			logf_("warn", "event=connection_dropped port=%d "
				      "reason=all_%d_slots_busy",
			      oldest->port, MAX_CONNS);
			conn_close(oldest);
			c = oldest;
		}
		c->fd = fd;
		c->seq = ++next_seq;
		c->port = lports[li];
		c->deadline_ms = now_ms() + CONN_TIMEOUT_MS;
	}
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [--help | --version]\n"
		"A STAND-IN for the quobyte-server image's entry point, for "
		"tests only (not Quobyte).\n"
		"Configured by environment:\n"
		"  QUOBYTE_SERVICE          registry|metadata|data|api|"
		"webconsole|client\n"
		"  QUOBYTE_RPC_PORT         main port of registry, metadata, "
		"data (required), client (optional)\n"
		"  QUOBYTE_API_PORT         main port of api (required)\n"
		"  QUOBYTE_WEBCONSOLE_PORT  main port of webconsole (required)\n"
		"  QUOBYTE_HTTP_PORT        status port of registry, metadata, "
		"data, client (client: required)\n"
		"  QUOBYTE_MOUNT_POINT      client mount point (default "
		"/quobyte): a tmpfs is mounted there\n"
		"  QUOBYTE_STANDIN_UNHEALTHY    set (not 0): GET / answers 503\n"
		"  QUOBYTE_STANDIN_IGNORE_TERM  set (not 0): SIGTERM is "
		"ignored\n"
		"  QUOBYTE_STANDIN_EXIT=N   exit with status N %d ms after "
		"start\n"
		"  QUOBYTE_STANDIN_VERSION  reported as the version\n"
		"HTTP on every port: GET / (health), GET /report (JSON), "
		"else 404.\n",
		EXIT_DELAY_MS);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[1], "--version")) {
			const char *v = getenv("QUOBYTE_STANDIN_VERSION");
			printf(PROG " %s (stand-in for tests, not Quobyte)\n",
			       v && *v ? v : "unversioned");
			return 0;
		}
		fprintf(stderr, PROG ": unknown argument '%.64s' (the "
				     "service is configured by environment; "
				     "see --help)\n",
			argv[1]);
		return 2;
	}

	const char *name = getenv("QUOBYTE_SERVICE");
	if (!name || !*name) {
		fprintf(stderr, PROG ": QUOBYTE_SERVICE is not set (one of "
				     "registry metadata data api webconsole "
				     "client)\n");
		return 2;
	}
	svc = service_find(name);
	if (!svc) {
		fprintf(stderr, PROG ": unknown QUOBYTE_SERVICE '%.64s' (one "
				     "of registry metadata data api "
				     "webconsole client)\n",
			name);
		return 2;
	}
	int port = port_from_env(svc->port_env);
	int http = svc->http ? port_from_env("QUOBYTE_HTTP_PORT") : 0;
	if (port < 0 || http < 0)
		return 2;
	if (svc->port_required && !port) {
		fprintf(stderr, PROG ": %s needs %s\n", svc->name, svc->port_env);
		return 2;
	}
	if (!svc->port_required && !http) {
		fprintf(stderr, PROG ": %s needs QUOBYTE_HTTP_PORT\n", svc->name);
		return 2;
	}
	if (port && port == http) {
		fprintf(stderr, PROG ": %s and QUOBYTE_HTTP_PORT are both %d\n",
			svc->port_env, port);
		return 2;
	}
	int exit_status = -1;
	const char *ex = getenv("QUOBYTE_STANDIN_EXIT");
	if (ex && *ex) {
		char *end;
		long v = strtol(ex, &end, 10);
		if (*end || v < 0 || v > 255) {
			fprintf(stderr, PROG ": QUOBYTE_STANDIN_EXIT='%.64s' is "
					     "not 0..255\n",
				ex);
			return 2;
		}
		exit_status = (int)v;
	}
	if (!strcmp(svc->name, "client")) {
		const char *mp = getenv("QUOBYTE_MOUNT_POINT");
		if (!mp || !*mp)
			mp = "/quobyte";
		if (mp[0] != '/' || strlen(mp) >= sizeof client_mp) {
			fprintf(stderr, PROG ": QUOBYTE_MOUNT_POINT must be an "
					     "absolute path\n");
			return 2;
		}
		snprintf(client_mp, sizeof client_mp, "%s", mp);
		size_t l = strlen(client_mp);
		while (l > 1 && client_mp[l - 1] == '/')
			client_mp[--l] = '\0';
	}

	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;

	/* signals: blocked except while waiting in ppoll */
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	bool ignore_term = env_true("QUOBYTE_STANDIN_IGNORE_TERM");
	if (ignore_term) {
		signal(SIGTERM, SIG_IGN);
		logf_("info", "event=ignoring_sigterm");
	} else {
		sigaction(SIGTERM, &sa, NULL);
	}
	signal(SIGPIPE, SIG_IGN);

	const int want[2] = {port, http};
	for (int i = 0; i < 2; i++) {
		if (!want[i])
			continue;
		lfds[i] = listen_on(want[i]);
		lports[i] = want[i];
		if (lfds[i] < 0) {
			logf_("error", "event=listen_failed service=%s port=%d "
				       "error=\"%s\"",
			      svc->name, want[i], strerror(errno));
			return 1;
		}
		logf_("info", "event=listening service=%s port=%d role=%s",
		      svc->name, want[i], i ? "http" : svc->port_env);
	}
	if (client_mp[0] && client_mount()) {
		client_unmount();
		return 1;
	}
	long long exit_at = exit_status >= 0 ? now_ms() + EXIT_DELAY_MS : -1;

	for (;;) {
		if (got_signal) {
			logf_("info", "event=exit reason=%s status=0",
			      strsignal(got_signal));
			client_unmount();
			return 0;
		}
		long long now = now_ms();
		if (exit_at >= 0 && now >= exit_at) {
			logf_("info", "event=exit reason=QUOBYTE_STANDIN_EXIT "
				      "status=%d",
			      exit_status);
			client_unmount();
			return exit_status;
		}
		struct pollfd pf[2 + MAX_CONNS];
		struct conn *pc[2 + MAX_CONNS];
		nfds_t n = 0;
		long long next = exit_at;
		for (int i = 0; i < 2; i++)
			if (lfds[i] >= 0) {
				pf[n] = (struct pollfd){.fd = lfds[i],
							.events = POLLIN};
				pc[n++] = NULL;
			}
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];
			if (c->fd < 0)
				continue;
			if (now >= c->deadline_ms) {
				logf_("warn", "event=request_timeout port=%d "
					      "bytes=%zu",
				      c->port, c->inlen);
				conn_close(c);
				continue;
			}
			if (next < 0 || c->deadline_ms < next)
				next = c->deadline_ms;
			pf[n] = (struct pollfd){
				.fd = c->fd, .events = c->out ? POLLOUT : POLLIN};
			pc[n++] = c;
		}
		struct timespec ts, *tp = NULL;
		if (next >= 0) {
			long long d = next > now ? next - now : 0;
			ts.tv_sec = d / 1000;
			ts.tv_nsec = (d % 1000) * 1000000;
			tp = &ts;
		}
		int r = ppoll(pf, n, tp, &waitmask);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			logf_("error", "event=poll_failed error=\"%s\"",
			      strerror(errno));
			client_unmount();
			return 1;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (!pf[i].revents)
				continue;
			if (!pc[i]) {
				accept_all(pf[i].fd == lfds[0] ? 0 : 1);
				continue;
			}
			struct conn *c = pc[i];
			if (c->fd != pf[i].fd)
				continue; /* dropped by accept_all meanwhile */
			if (c->out)
				conn_write(c);
			else
				conn_read(c);
			/* a response ready at once: try to send it now */
			if (c->fd >= 0 && c->out && c->outoff == 0)
				conn_write(c);
		}
	}
}
