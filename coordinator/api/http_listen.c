/* The REST server's listening socket (we keep it, libmicrohttpd gets the
 * accepted connections), peer addresses for logs, and the lingering close
 * of connections MHD has let go. */
#include "api/http_int.h"

#include "log.h"
#include "qm_error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void http_format_remote(const struct sockaddr *ss, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss && ss->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
		snprintf(out, cap, "%s:%u", ip, ntohs(a->sin_port));
	} else if (ss && ss->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		snprintf(out, cap, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		snprintf(out, cap, "unknown");
	}
}

/* "HOST:PORT" with HOST an IPv4 literal, "[IPv6]", "*" or empty. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	if (!addr)
		return QM_EINVAL;
	const char *colon = strrchr(addr, ':');
	if (!colon)
		return QM_EINVAL;
	const char *port_s = colon + 1;
	size_t pl = strlen(port_s);
	if (pl == 0 || pl > 5)
		return QM_EINVAL;
	unsigned long port = 0;
	for (const char *p = port_s; *p; p++) {
		if (*p < '0' || *p > '9')
			return QM_EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port > 65535)
		return QM_EINVAL;
	char host[INET6_ADDRSTRLEN + 1];
	size_t hl = (size_t)(colon - addr);
	memset(ss, 0, sizeof *ss);
	if (hl && addr[0] == '[') {
		if (hl < 3 || addr[hl - 1] != ']' || hl - 2 >= sizeof host)
			return QM_EINVAL;
		memcpy(host, addr + 1, hl - 2);
		host[hl - 2] = '\0';
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return QM_EINVAL;
		*len = sizeof *a;
		return 0;
	}
	if (hl >= sizeof host)
		return QM_EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	*len = sizeof *a;
	if (hl == 0 || strcmp(host, "*") == 0) {
		a->sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : QM_EINVAL;
}

/* A bound, listening, non-blocking socket for addr; -1 with *err. */
int http_listen_on(const char *addr, uint16_t *port, int *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	*err = QM_EINVAL;
	if (parse_addr(addr, &ss, &sl)) {
		log_error("http_bad_address", "addr=%s", log_qs(addr));
		return -1;
	}
	*err = QM_EIO;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("http_socket_failed", "addr=%s errno=%d", log_qs(addr), errno);
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, SOMAXCONN) < 0) {
		log_error("http_listen_failed", "addr=%s errno=%d", log_qs(addr), errno);
		close(fd);
		return -1;
	}
	struct sockaddr_storage bound;
	socklen_t bl = sizeof bound;
	*port = 0;
	if (getsockname(fd, (struct sockaddr *)&bound, &bl) == 0)
		*port = ntohs(bound.ss_family == AF_INET6
				      ? ((struct sockaddr_in6 *)&bound)->sin6_port
				      : ((struct sockaddr_in *)&bound)->sin_port);
	*err = 0;
	return fd;
}


/* The whole of a small file, NUL-terminated; NULL with err. */
static char *slurp(const char *path, char *err, size_t cap, int *rv)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, cap, "cannot open %s: %s", path, strerror(errno));
		*rv = QM_EIO;
		return NULL;
	}
	char *buf = qm_malloc(HTTP_TLS_MAX_FILE + 1);
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, HTTP_TLS_MAX_FILE + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
			*rv = QM_EIO;
			break;
		}
		if (r == 0) {
			*rv = 0;
			break;
		}
		n += (size_t)r;
		if (n > HTTP_TLS_MAX_FILE) {
			snprintf(err, cap, "%s is larger than %u bytes", path, HTTP_TLS_MAX_FILE);
			*rv = QM_EINVAL;
			break;
		}
	}
	close(fd);
	if (*rv) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

int http_tls_load(const char *cert_file, const char *key_file, char **cert_pem,
		  char **key_pem, char *err, size_t errcap)
{
	int rv = QM_EINVAL;
	*cert_pem = *key_pem = NULL;
	if (!cert_file || !key_file) {
		snprintf(err, errcap, "a TLS certificate needs its key and the key its certificate");
		return rv;
	}
	char *cert = slurp(cert_file, err, errcap, &rv);
	char *key = cert ? slurp(key_file, err, errcap, &rv) : NULL;
	if (key && http_tls_check(cert, key) != 0) {
		snprintf(err, errcap, "%s and %s do not load as a PEM certificate and its key",
			 cert_file, key_file);
		rv = QM_EINVAL;
	}
	if (rv) {
		free(cert);
		if (key)
			explicit_bzero(key, strlen(key));
		free(key);
		return rv;
	}
	*cert_pem = cert;
	*key_pem = key;
	return 0;
}

/* The lingering close (RFC 9112 section 9.6): MHD closes a connection as
 * soon as its answer is sent, also when the client is still sending a body
 * it was told is refused (413, 401, ...). Unread input makes the kernel
 * answer with a reset that can destroy the answer before the client reads
 * it. So every connection keeps a dup of its socket; when MHD lets go, the
 * write side is shut (the client sees the end) and what still arrives is
 * read and dropped, at most LINGER_MAX_BYTES for LINGER_MAX_MS (a bounded cost per
 * connection; the old hand-written server drained the same way). */
#define LINGER_MAX_MS 2000u
#define LINGER_MAX_BYTES (8u << 20)

struct http_linger {
	struct http_server *srv;
	struct http_linger *prev, *next;
	int fd;
	size_t discarded;
	uint64_t timer_id;
};

static void linger_end(struct http_linger *l)
{
	struct http_server *s = l->srv;
	if (l->timer_id)
		ev_timer_cancel(s->loop, l->timer_id);
	ev_fd_del(s->loop, l->fd);
	close(l->fd);
	if (l->prev)
		l->prev->next = l->next;
	else
		s->lingering = l->next;
	if (l->next)
		l->next->prev = l->prev;
	free(l);
}

static void on_linger_timer(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct http_linger *l = arg;
	l->timer_id = 0;
	linger_end(l);
}

static void on_linger_read(struct ev_loop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)events;
	struct http_linger *l = arg;
	char sink[4096];
	for (;;) {
		ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0 || (l->discarded += (size_t)n) > LINGER_MAX_BYTES) {
			linger_end(l);
			return;
		}
	}
}

void http_linger_start(struct http_server *s, int fd)
{
	if (s->dying) {
		close(fd);
		return;
	}
	shutdown(fd, SHUT_WR);
	struct http_linger *l = qm_calloc(1, sizeof *l);
	l->srv = s;
	l->fd = fd;
	if (ev_fd_add(s->loop, fd, EV_READ, on_linger_read, l) != 0) {
		close(fd);
		free(l);
		return;
	}
	l->timer_id = ev_timer_add(s->loop, LINGER_MAX_MS, on_linger_timer, l);
	l->next = s->lingering;
	if (s->lingering)
		s->lingering->prev = l;
	s->lingering = l;
}

void http_linger_stop_all(struct http_server *s)
{
	while (s->lingering)
		linger_end(s->lingering);
}
