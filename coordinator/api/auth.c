/* API tokens, request checks, failed-attempt limiting, audit trail: see
 * auth.h. */
#include "api/auth.h"

#include "mac.h"
#include "qm_error.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>



struct peer {
	char ip[64];
	unsigned fails;          /* within the window that began at since_ms */
	uint64_t since_ms;
	uint64_t blocked_until;  /* 0 = not blocked */
	uint64_t last_ms;
};

struct audit_entry {
	uint64_t unix_ms;
	char peer[64];
	char who[AUTH_NAME_MAX + 1];
	char method[16];
	char path[128];
	char summary[AUTH_SUMMARY_MAX + 1];
	int status;
};

struct auth {
	struct auth_tokens tokens;
	bool read_auth;
	struct peer peers[AUTH_PEERS_MAX];
	size_t npeers;
	struct audit_entry *audit; /* ring of AUTH_AUDIT_MAX */
	size_t audit_next, audit_n;
	struct auth_stats st;
};

/* ---- token file -------------------------------------------------------- */


static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > AUTH_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* printable ASCII without blanks */
static bool token_chars_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static int add_token(struct auth_tokens *t, const char *name, size_t nlen, enum auth_role role,
		     const char *tok, size_t tlen, unsigned line, char *err, size_t errlen)
{
	if (!name_ok(name, nlen))
		return qm_fail(err, errlen, QM_EINVAL,
			    "line %u: the name must be 1..%d of A-Z a-z 0-9 . _ -", line,
			    AUTH_NAME_MAX);
	if (!token_chars_ok(tok, tlen))
		return qm_fail(err, errlen, QM_EINVAL,
			    "line %u (%.*s): the token holds characters other than printable ASCII",
			    line, (int)nlen, name);
	if (tlen < AUTH_TOKEN_MIN || tlen > AUTH_TOKEN_MAX)
		return qm_fail(err, errlen, QM_EINVAL,
			    "line %u (%.*s): the token has %zu characters; %d..%d are needed "
			    "(e.g. head -c 32 /dev/urandom | base64)",
			    line, (int)nlen, name, tlen, AUTH_TOKEN_MIN, AUTH_TOKEN_MAX);
	for (size_t i = 0; i < t->n; i++)
		if (strlen(t->v[i].name) == nlen && memcmp(t->v[i].name, name, nlen) == 0)
			return qm_fail(err, errlen, QM_EINVAL, "line %u: the name %.*s is used twice",
				    line, (int)nlen, name);
	t->v = qm_realloc(t->v, (t->n + 1) * sizeof *t->v);
	struct auth_token *e = &t->v[t->n++];
	memset(e, 0, sizeof *e);
	memcpy(e->name, name, nlen);
	e->role = role;
	memcpy(e->token, tok, tlen);
	e->len = tlen;
	return 0;
}

/* Split a line into at most 4 blank-separated words. */
static size_t words(const char *s, size_t n, const char **w, size_t *wl, size_t cap)
{
	size_t k = 0, i = 0;
	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i >= n)
			break;
		size_t b = i;
		while (i < n && s[i] != ' ' && s[i] != '\t')
			i++;
		if (k < cap) {
			w[k] = s + b;
			wl[k] = i - b;
		}
		k++;
	}
	return k;
}

int auth_tokens_parse(const char *text, size_t len, struct auth_tokens *out, char *err,
		      size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct auth_tokens t = { 0 };
	unsigned line = 0, entries = 0, bare = 0;
	size_t pos = 0;
	int rc = 0;
	while (pos < len && rc == 0) {
		line++;
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl ? 1 : 0);
		if (n && s[n - 1] == '\r')
			n--;
		for (size_t i = 0; i < n; i++)
			if (s[i] == '\0' || ((unsigned char)s[i] < 0x20 && s[i] != '\t')) {
				rc = qm_fail(err, errlen, QM_EINVAL, "line %u: a control character",
					  line);
				break;
			}
		if (rc)
			break;
		const char *w[4];
		size_t wl[4];
		size_t k = words(s, n, w, wl, 4);
		if (k == 0 || w[0][0] == '#')
			continue;
		entries++;
		if (k == 1) {
			bare++;
			rc = add_token(&t, "admin", 5, AUTH_ROLE_ADMIN, w[0], wl[0], line, err,
				       errlen);
		} else if (k == 3) {
			enum auth_role role;
			if (wl[1] == 5 && memcmp(w[1], "admin", 5) == 0)
				role = AUTH_ROLE_ADMIN;
			else if (wl[1] == 4 && memcmp(w[1], "read", 4) == 0)
				role = AUTH_ROLE_READ;
			else {
				rc = qm_fail(err, errlen, QM_EINVAL,
					  "line %u: the role must be admin or read", line);
				break;
			}
			rc = add_token(&t, w[0], wl[0], role, w[2], wl[2], line, err, errlen);
		} else {
			rc = qm_fail(err, errlen, QM_EINVAL,
				  "line %u: expected NAME ROLE TOKEN (or one bare token), found %zu "
				  "words",
				  line, k);
		}
	}
	if (rc == 0 && entries == 0)
		rc = qm_fail(err, errlen, QM_EINVAL, "no token in it");
	if (rc == 0 && bare && entries > 1)
		rc = qm_fail(err, errlen, QM_EINVAL,
			  "a bare token must be the only entry (else: NAME ROLE TOKEN lines)");
	if (rc != 0) {
		auth_tokens_free(&t);
		return rc;
	}
	*out = t;
	return 0;
}

int auth_tokens_load(const char *path, struct auth_tokens *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return qm_fail(err, errlen, QM_EIO, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return qm_fail(err, errlen, QM_EIO, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return qm_fail(err, errlen, QM_EINVAL, "%s: not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return qm_fail(err, errlen, QM_EINVAL,
			    "%s: group or others may access it (mode %04o); chmod 600 it",
			    path, (unsigned)(st.st_mode & 07777));
	}
	if (st.st_size > (off_t)AUTH_FILE_MAX) {
		close(fd);
		return qm_fail(err, errlen, QM_EINVAL, "%s: larger than %u bytes", path,
			    AUTH_FILE_MAX);
	}
	char *buf = qm_malloc(AUTH_FILE_MAX + 1);
	size_t len = 0;
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, AUTH_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = qm_fail(err, errlen, QM_EIO, "%s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > AUTH_FILE_MAX) {
			rc = qm_fail(err, errlen, QM_EINVAL, "%s: larger than %u bytes", path,
				  AUTH_FILE_MAX);
			break;
		}
	}
	close(fd);
	if (rc == 0) {
		char why[200];
		rc = auth_tokens_parse(buf, len, out, why, sizeof why);
		if (rc != 0)
			qm_fail(err, errlen, rc, "%s: %s", path, why);
	}
	explicit_bzero(buf, AUTH_FILE_MAX + 1);
	free(buf);
	return rc;
}

int auth_tokens_single(const char *token, struct auth_tokens *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	size_t n = strlen(token);
	if (!token_chars_ok(token, n) || n == 0 || n > AUTH_TOKEN_MAX)
		return qm_fail(err, errlen, QM_EINVAL,
			    "--api-token must be 1..%d printable ASCII characters without blanks",
			    AUTH_TOKEN_MAX);
	out->v = qm_calloc(1, sizeof *out->v);
	out->n = 1;
	snprintf(out->v[0].name, sizeof out->v[0].name, "api-token");
	out->v[0].role = AUTH_ROLE_ADMIN;
	memcpy(out->v[0].token, token, n);
	out->v[0].len = n;
	return 0;
}

void auth_tokens_free(struct auth_tokens *t)
{
	if (t->v)
		explicit_bzero(t->v, t->n * sizeof *t->v);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* ---- the state ----------------------------------------------------------- */

struct auth *auth_new(void)
{
	struct auth *a = qm_calloc(1, sizeof *a);
	a->audit = qm_calloc(AUTH_AUDIT_MAX, sizeof *a->audit);
	return a;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	auth_tokens_free(&a->tokens);
	free(a->audit);
	free(a);
}

void auth_set_tokens(struct auth *a, struct auth_tokens *t)
{
	auth_tokens_free(&a->tokens);
	a->tokens = *t;
	t->v = NULL;
	t->n = 0;
}

size_t auth_ntokens(const struct auth *a) { return a->tokens.n; }
void auth_set_read_auth(struct auth *a, bool on) { a->read_auth = on; }
bool auth_read_auth(const struct auth *a) { return a->read_auth; }

void auth_stats(const struct auth *a, struct auth_stats *out) { *out = a->st; }

/* ---- checks ------------------------------------------------------------------ */

/* "ip:port" / "[v6]:port" -> ip */
static void peer_ip(const char *peer, char *out, size_t cap)
{
	const char *p = peer ? peer : "";
	size_t n = strlen(p);
	if (p[0] == '[') {
		const char *e = strchr(p, ']');
		n = e ? (size_t)(e - p - 1) : n;
		p++;
	} else {
		const char *c = strrchr(p, ':');
		if (c)
			n = (size_t)(c - p);
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

static struct peer *peer_find(struct auth *a, const char *ip, bool create, uint64_t now)
{
	for (size_t i = 0; i < a->npeers; i++)
		if (strcmp(a->peers[i].ip, ip) == 0)
			return &a->peers[i];
	if (!create)
		return NULL;
	struct peer *p;
	if (a->npeers < AUTH_PEERS_MAX) {
		p = &a->peers[a->npeers++];
	} else { /* forget the peer seen longest ago */
		p = &a->peers[0];
		for (size_t i = 1; i < a->npeers; i++)
			if (a->peers[i].last_ms < p->last_ms)
				p = &a->peers[i];
	}
	memset(p, 0, sizeof *p);
	snprintf(p->ip, sizeof p->ip, "%s", ip);
	p->since_ms = now;
	return p;
}

static void count_failure(struct auth *a, const char *ip, uint64_t now)
{
	struct peer *p = peer_find(a, ip, true, now);
	if (now - p->since_ms > AUTH_FAIL_WINDOW_MS) {
		p->since_ms = now;
		p->fails = 0;
	}
	p->fails++;
	p->last_ms = now;
	if (p->fails >= AUTH_FAIL_LIMIT)
		p->blocked_until = now + AUTH_BLOCK_MS;
	a->st.failures++;
}

/* The entry the token matches, every entry compared. */
static const struct auth_token *match(const struct auth *a, const char *tok, size_t n)
{
	const struct auth_token *found = NULL;
	bool clean = token_chars_ok(tok, n);
	for (size_t i = 0; i < a->tokens.n; i++) {
		/* time follows the configured token's length only */
		bool eq = mac_equal(tok, n, a->tokens.v[i].token, a->tokens.v[i].len);
		if (eq && clean && !found)
			found = &a->tokens.v[i];
	}
	return found;
}

static int b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Standard base64 with padding; -1 when malformed. */
static ssize_t b64decode(const char *s, size_t n, char *out, size_t cap)
{
	if (n % 4 != 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			unsigned char ch = (unsigned char)s[i + (size_t)j];
			if (ch == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad) {
				return -1;
			} else if ((v[j] = b64val(ch)) < 0) {
				return -1;
			}
		}
		unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
			     (unsigned)v[3];
		int bytes = 3 - pad;
		if (o + (size_t)bytes > cap)
			return -1;
		for (int j = 0; j < bytes; j++)
			out[o++] = (char)(w >> (16 - 8 * j) & 0xff);
	}
	return (ssize_t)o;
}

static bool scheme_is(const char *h, const char *word, const char **rest)
{
	size_t n = strlen(word);
	if (strncasecmp(h, word, n) != 0 || (h[n] != ' ' && h[n] != '\t'))
		return false;
	h += n;
	while (*h == ' ' || *h == '\t')
		h++;
	*rest = h;
	return true;
}

/* Origin "scheme://host[:port]" names the Host the request was sent to. */
static bool origin_matches(const char *origin, const char *host)
{
	if (!host || !*host)
		return false;
	const char *p;
	if (strncasecmp(origin, "http://", 7) == 0)
		p = origin + 7;
	else if (strncasecmp(origin, "https://", 8) == 0)
		p = origin + 8;
	else
		return false;
	return strcasecmp(p, host) == 0;
}

void auth_check(struct auth *a, const struct auth_request *r, struct auth_result *res)
{
	res->status = 0;
	res->who = "-";
	res->reason = "";
	bool need = a->tokens.n > 0 && r->access != AUTH_ACCESS_PUBLIC &&
		    (r->mutating || r->access == AUTH_ACCESS_ADMIN || a->read_auth);
	if (!need)
		return;
	/* a blocked peer still gets what needs no credential (a health check
	 * from the same address must not fail for someone else's guesses) */
	char ip[64];
	peer_ip(r->peer, ip, sizeof ip);
	struct peer *p = peer_find(a, ip, false, r->now_ms);
	if (p && p->blocked_until && r->now_ms < p->blocked_until) {
		a->st.limited++;
		res->status = 429;
		res->reason = "too many failed attempts from this address";
		return;
	}
	const char *h = r->authorization;
	if (h && strlen(h) > AUTH_HEADER_MAX) {
		res->status = 400;
		res->reason = "oversized Authorization header";
		return;
	}
	const struct auth_token *t = NULL;
	const char *rest;
	if (!h) {
		res->reason = "no credential";
	} else if (scheme_is(h, "Bearer", &rest)) {
		t = match(a, rest, strlen(rest));
		res->reason = "bad bearer token";
	} else if (scheme_is(h, "Basic", &rest) && !r->mutating) {
		char dec[AUTH_HEADER_MAX];
		ssize_t n = b64decode(rest, strlen(rest), dec, sizeof dec);
		const char *colon = n > 0 ? memchr(dec, ':', (size_t)n) : NULL;
		if (colon) {
			size_t off = (size_t)(colon - dec) + 1;
			t = match(a, dec + off, (size_t)n - off);
		}
		explicit_bzero(dec, sizeof dec);
		res->reason = "bad basic credential";
	} else {
		res->reason = r->mutating ? "a mutating call needs a bearer token"
					  : "unknown authorization scheme";
	}
	if (!t) {
		count_failure(a, ip, r->now_ms);
		res->status = 401;
		return;
	}
	res->who = t->name;
	if (r->mutating && r->origin && !origin_matches(r->origin, r->host)) {
		a->st.forbidden++;
		res->status = 403;
		res->reason = "Origin does not match the Host";
		return;
	}
	if ((r->mutating || r->access == AUTH_ACCESS_ADMIN) && t->role != AUTH_ROLE_ADMIN) {
		a->st.forbidden++;
		res->status = 403;
		res->reason = "a read token on an admin call";
		return;
	}
	res->reason = "ok";
}

/* ---- audit ------------------------------------------------------------------- */

static void copy_clean(char *dst, size_t cap, const char *src, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[k++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '.';
	}
	dst[k] = '\0';
}

void auth_audit_add(struct auth *a, uint64_t unix_ms, const char *peer, const char *who,
		    const char *method, const char *path, const char *body, size_t body_len,
		    int status)
{
	struct audit_entry *e = &a->audit[a->audit_next];
	a->audit_next = (a->audit_next + 1) % AUTH_AUDIT_MAX;
	if (a->audit_n < AUTH_AUDIT_MAX)
		a->audit_n++;
	e->unix_ms = unix_ms;
	copy_clean(e->peer, sizeof e->peer, peer ? peer : "", peer ? strlen(peer) : 0);
	copy_clean(e->who, sizeof e->who, who ? who : "-", who ? strlen(who) : 1);
	copy_clean(e->method, sizeof e->method, method, strlen(method));
	copy_clean(e->path, sizeof e->path, path, strlen(path));
	copy_clean(e->summary, sizeof e->summary, body ? body : "", body ? body_len : 0);
	e->status = status;
	a->st.audited++;
}

cJSON *auth_audit_json(const struct auth *a)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "entries");
	size_t first = (a->audit_next + AUTH_AUDIT_MAX - a->audit_n) % AUTH_AUDIT_MAX;
	for (size_t i = 0; i < a->audit_n; i++) {
		const struct audit_entry *e = &a->audit[(first + i) % AUTH_AUDIT_MAX];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "time_unix_ms", (double)e->unix_ms);
		cJSON_AddStringToObject(j, "peer", e->peer);
		cJSON_AddStringToObject(j, "token", e->who);
		cJSON_AddStringToObject(j, "method", e->method);
		cJSON_AddStringToObject(j, "path", e->path);
		cJSON_AddStringToObject(j, "summary", e->summary);
		cJSON_AddNumberToObject(j, "status", e->status);
		cJSON_AddItemToArray(arr, j);
	}
	return o;
}
