/* The request/response side of the REST server (http.h): answering from a
 * handler, the route table's matching rule and the request accessors. The
 * engine that moves bytes is http.c. */
#include "api/http_int.h"

#include "log.h"
#include "mac.h"
#include "qm_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- tables */

static const struct {
	int code;
	const char *reason;
} reasons[] = {
	{100, "Continue"},
	{200, "OK"},
	{201, "Created"},
	{202, "Accepted"},
	{204, "No Content"},
	{301, "Moved Permanently"},
	{302, "Found"},
	{303, "See Other"},
	{304, "Not Modified"},
	{307, "Temporary Redirect"},
	{308, "Permanent Redirect"},
	{400, "Bad Request"},
	{401, "Unauthorized"},
	{403, "Forbidden"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{408, "Request Timeout"},
	{409, "Conflict"},
	{410, "Gone"},
	{411, "Length Required"},
	{412, "Precondition Failed"},
	{413, "Content Too Large"},
	{414, "URI Too Long"},
	{415, "Unsupported Media Type"},
	{417, "Expectation Failed"},
	{422, "Unprocessable Content"},
	{429, "Too Many Requests"},
	{431, "Request Header Fields Too Large"},
	{500, "Internal Server Error"},
	{501, "Not Implemented"},
	{502, "Bad Gateway"},
	{503, "Service Unavailable"},
	{504, "Gateway Timeout"},
	{505, "HTTP Version Not Supported"},
};

const char *http_reason(int status)
{
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (reasons[i].code == status)
			return reasons[i].reason;
	return "Unknown";
}

/* Headers a handler may not set: the server owns message framing. */
static const char *const reserved_headers[] = {
	"Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Date",
};

/* --------------------------------------------------------------- helpers */

static bool is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

bool http_is_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

/* Printable ASCII plus SP/HTAB: safe inside a header value. */
bool http_is_field_text(const char *s, size_t max)
{
	size_t n = 0;
	for (; *s; s++, n++) {
		unsigned char ch = (unsigned char)*s;
		if (n >= max || ((ch < 0x20 || ch > 0x7e) && ch != '\t'))
			return false;
	}
	return true;
}

bool http_has_token(const char *list, const char *tok)
{
	size_t tl = strlen(tok);
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - p) == tl && strncasecmp(p, tok, tl) == 0)
			return true;
		p = e;
	}
	return false;
}

/* ------------------------------------------------------------- responses */

void http_resp_reset(struct http_response *r)
{
	free(r->ctype);
	free(r->body);
	free(r->extra);
	if (r->fd >= 0)
		close(r->fd);
	*r = (struct http_response){.max_response = r->max_response, .fd = -1};
}

static void resp_fail(struct http_response *r)
{
	r->answered = true;
	r->failed = true;
}

static int resp_begin(struct http_response *r, int status, const char *ctype)
{
	if (!r || !r->open || r->answered)
		return QM_EINVAL;
	if (status < 200 || status > 599 ||
	    (ctype && (!*ctype || !http_is_field_text(ctype, 255)))) {
		resp_fail(r);
		return QM_EINVAL;
	}
	r->answered = true;
	r->status = status;
	if (ctype)
		r->ctype = qm_strdup(ctype);
	return 0;
}

/* http_respond with a heap body of len bytes that becomes the
 * response's (freed with it, or here on failure). */
static int respond_owned(struct http_response *r, int status, const char *ctype, char *body,
			 size_t len)
{
	if (r && r->open && !r->answered && len > r->max_response) {
		free(body);
		resp_fail(r);
		return QM_ETOOBIG;
	}
	int rv = resp_begin(r, status, ctype);
	if (rv) {
		free(body);
		return rv;
	}
	r->body = body;
	r->body_len = len;
	r->no_store = true;
	return 0;
}

int http_respond(struct http_response *r, int status, const char *ctype,
		 const void *body, size_t len)
{
	if (r && r->open && !r->answered && (len > r->max_response || (!body && len))) {
		resp_fail(r);
		return body ? QM_ETOOBIG : QM_EINVAL;
	}
	char *copy = qm_malloc(len ? len : 1);
	if (len)
		memcpy(copy, body, len);
	return respond_owned(r, status, ctype, copy, len);
}

int http_respond_json_sized(struct http_response *r, int status, cJSON *json, size_t hint)
{
	/* printed straight into one buffer of about the right size, which the
	 * response keeps: cJSON_PrintUnformatted grows from 256 bytes and
	 * copies the text once more at the end, and http_respond copied it
	 * again (a page of /v1/state is 10 MiB) */
	int pre = hint < 256 ? 256 : hint > (size_t)1 << 30 ? 1 << 30 : (int)hint;
	char *txt = json ? cJSON_PrintBuffered(json, pre, false) : NULL;
	cJSON_Delete(json);
	if (!r || !r->open || r->answered) {
		cJSON_free(txt);
		return QM_EINVAL;
	}
	if (!txt) {
		resp_fail(r);
		return QM_EINVAL;
	}
	return respond_owned(r, status, "application/json", txt, strlen(txt));
}

int http_respond_json(struct http_response *r, int status, cJSON *json)
{
	return http_respond_json_sized(r, status, json, 256);
}

int http_respond_error(struct http_response *r, int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	if (o && !cJSON_AddStringToObject(o, "error", msg ? msg : "")) {
		cJSON_Delete(o);
		o = NULL;
	}
	return http_respond_json(r, status, o);
}

int http_respond_file(struct http_response *r, int status, const char *ctype, int fd)
{
	struct stat st;
	if (!r || !r->open || r->answered) {
		if (fd >= 0)
			close(fd);
		return QM_EINVAL;
	}
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		resp_fail(r);
		return QM_EINVAL;
	}
	int rv = resp_begin(r, status, ctype);
	if (rv) {
		close(fd);
		return rv;
	}
	r->fd = fd;
	r->file_size = (uint64_t)st.st_size;
	return 0;
}

int http_respond_path(struct http_response *r, int status, const char *ctype,
		      const char *path)
{
	if (!r || !r->open || r->answered || !path)
		return QM_EINVAL;
	/* O_NONBLOCK: opening a FIFO someone put there must not hang the loop */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (e != ENOENT)
			log_warn("http_file_open_failed", "path=%s errno=%d", log_qs(path), e);
		return e == ENOENT ? QM_ENOENT : QM_EIO;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		log_warn("http_file_not_regular", "path=%s", log_qs(path));
		return QM_EIO;
	}
	return http_respond_file(r, status, ctype, fd);
}

int http_response_header(struct http_response *r, const char *name, const char *value)
{
	if (!r || !r->open || !http_is_token(name) || !value || !http_is_field_text(value, SIZE_MAX))
		return QM_EINVAL;
	for (size_t i = 0; i < sizeof reserved_headers / sizeof reserved_headers[0]; i++)
		if (strcasecmp(name, reserved_headers[i]) == 0)
			return QM_EINVAL;
	size_t nl = strlen(name), vl = strlen(value);
	size_t add = nl + 2 + vl + 2;
	if (add > HTTP_MAX_EXTRA_HEADERS - r->extra_len)
		return QM_ETOOBIG;
	if (!r->extra)
		r->extra = qm_malloc(HTTP_MAX_EXTRA_HEADERS);
	char *p = r->extra + r->extra_len;
	memcpy(p, name, nl);
	memcpy(p + nl, ": ", 2);
	memcpy(p + nl + 2, value, vl);
	memcpy(p + nl + 2 + vl, "\r\n", 2);
	r->extra_len += add;
	return 0;
}

/* --------------------------------------------------------------- routing */

static bool method_matches(const char *route_m, const char *m, bool *explicit_match)
{
	if (strcmp(route_m, m) == 0) {
		*explicit_match = true;
		return true;
	}
	*explicit_match = false;
	return strcmp(m, "HEAD") == 0 && strcmp(route_m, "GET") == 0;
}

/* How specifically pat matches path: 0 no match, SIZE_MAX exact, else the
 * prefix length + 1. */
static size_t path_score(const char *pat, const char *path)
{
	size_t pl = strlen(pat);
	size_t cmp;
	if (pl && pat[pl - 1] == '*')
		cmp = pl - 1;
	else if (pl > 1 && pat[pl - 1] == '/')
		cmp = pl;
	else
		return strcmp(pat, path) == 0 ? SIZE_MAX : 0;
	return strncmp(pat, path, cmp) == 0 ? cmp + 1 : 0;
}

/* Find the route; 0, or 404/405 (with the Allow list in allow). */
int http_route_find(const struct http_route *routes, size_t n, const char *m,
		    const char *path, const struct http_route **out, char *allow,
		    size_t allow_cap)
{
	const struct http_route *best = NULL;
	size_t best_score = 0;
	bool best_explicit = false, any_path = false, get_seen = false, head_seen = false;
	size_t alen = 0;
	allow[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct http_route *rt = &routes[i];
		size_t sc = path_score(rt->path, path);
		if (!sc)
			continue;
		any_path = true;
		bool ex;
		if (method_matches(rt->method, m, &ex) &&
		    (!best || sc > best_score || (sc == best_score && ex && !best_explicit))) {
			best = rt;
			best_score = sc;
			best_explicit = ex;
		}
		get_seen |= strcmp(rt->method, "GET") == 0;
		head_seen |= strcmp(rt->method, "HEAD") == 0;
		/* Allow: each method once */
		size_t ml = strlen(rt->method);
		bool dup = false;
		for (const char *a = allow; *a;) {
			const char *e = strchr(a, ',');
			size_t l = e ? (size_t)(e - a) : strlen(a);
			if (l == ml && memcmp(a, rt->method, ml) == 0)
				dup = true;
			a = e ? e + 2 : a + l;
		}
		if (!dup && alen + ml + 3 < allow_cap) {
			alen += (size_t)snprintf(allow + alen, allow_cap - alen, "%s%s",
						 alen ? ", " : "", rt->method);
		}
	}
	if (get_seen && !head_seen && alen + 7 < allow_cap)
		alen += (size_t)snprintf(allow + alen, allow_cap - alen, "%sHEAD",
					 alen ? ", " : "");
	if (best) {
		*out = best;
		return 0;
	}
	return any_path ? 405 : 404;
}

/* ---------------------------------------------------- request accessors */

const char *http_header(const struct http_request *req, const char *name)
{
	if (!req || !name)
		return NULL;
	for (size_t i = 0; i < req->nhdrs_; i++)
		if (strcasecmp(req->hdrs_[i].name, name) == 0)
			return req->hdrs_[i].value;
	return NULL;
}

/* Decode [p, e) into out; 0, QM_EINVAL or QM_ETOOBIG. */
static int form_decode(const char *p, const char *e, char *out, size_t cap)
{
	size_t o = 0;
	while (p < e) {
		char ch = *p++;
		if (ch == '+') {
			ch = ' ';
		} else if (ch == '%') {
			char hex[3] = {e - p >= 2 ? p[0] : '\0', e - p >= 2 ? p[1] : '\0', '\0'};
			uint8_t b;
			if (mac_hex_decode(hex, &b, 1) != 0)
				return QM_EINVAL;
			ch = (char)b;
			if (ch == '\0')
				return QM_EINVAL;
			p += 2;
		}
		if (o + 1 >= cap)
			return QM_ETOOBIG;
		out[o++] = ch;
	}
	out[o] = '\0';
	return 0;
}

int http_query_param(const struct http_request *req, const char *name, char *out,
		     size_t cap)
{
	if (!req || !name || !out || cap == 0)
		return QM_EINVAL;
	out[0] = '\0';
	size_t nl = strlen(name);
	const char *p = req->query ? req->query : "";
	while (*p) {
		const char *amp = strchr(p, '&');
		const char *e = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(e - p));
		const char *ke = eq ? eq : e;
		char key[256];
		if (form_decode(p, ke, key, sizeof key) == 0 && strlen(key) == nl &&
		    memcmp(key, name, nl) == 0) {
			int rv = eq ? form_decode(eq + 1, e, out, cap) : 0;
			if (rv)
				out[0] = '\0';
			return rv;
		}
		p = amp ? amp + 1 : e;
	}
	return QM_ENOENT;
}
