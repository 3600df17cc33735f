/* Judging a request head before its body is read: the request line and
 * header bytes as libmicrohttpd (MHD) parsed them, framing, route, auth,
 * size and expectations. MHD refuses some malformed input itself; this is
 * where the rules of http.h are enforced for everything it lets through.
 * Runs inside MHD's access handler, on the loop thread. */
#include "api/http_int.h"

#include "log.h"
#include "qm_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- judging */

struct scan {
	struct req *rq;
	size_t max_head;
	size_t n, bytes;             /* headers, and their size on the wire */
	int status;
	const char *msg;
	int ncl, nhost, nauth, norigin;
	char *out;                   /* second pass: copy into rq->hbuf */
};

static bool field_ok(const char *v, size_t len, const char **msg)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (ch >= 0x7f) {
			*msg = "non-ASCII byte in request head";
			return false;
		}
		if (ch < 0x20 && ch != '\t') {
			*msg = "control byte in request head";
			return false;
		}
	}
	return true;
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   size_t klen, const char *value, size_t vlen)
{
	(void)kind;
	struct scan *sc = cls;
	if (!value)
		value = "";
	if (sc->out) {
		/* copy, trimmed: "name\0value\0" */
		struct http_hdr *h = &sc->rq->hdrs[sc->rq->nhdrs++];
		while (vlen && (*value == ' ' || *value == '\t'))
			value++, vlen--;
		while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
			vlen--;
		memcpy(sc->out, key, klen + 1);
		h->name = sc->out;
		sc->out += klen + 1;
		memcpy(sc->out, value, vlen);
		sc->out[vlen] = '\0';
		h->value = sc->out;
		sc->out += vlen + 1;
		return MHD_YES;
	}
	sc->msg = "invalid header";
	if (++sc->n > HTTP_MAX_HEADERS) {
		sc->msg = "too many headers";
		sc->status = 431;
		return MHD_NO;
	}
	sc->bytes += klen + vlen + 4;
	if (sc->bytes > sc->max_head) {
		sc->msg = "request header too large";
		sc->status = 431;
		return MHD_NO;
	}
	bool name_ok = klen > 0 && strlen(key) == klen;
	for (size_t i = 0; name_ok && i < klen; i++) {
		char t[2] = {key[i], '\0'};
		name_ok = http_is_token(t);
	}
	if (!name_ok || !field_ok(value, vlen, &sc->msg) || strlen(value) != vlen) {
		if (strlen(value) != vlen)
			sc->msg = "control byte in request head";
		sc->status = 400;
		return MHD_NO;
	}
	sc->ncl += strcasecmp(key, "Content-Length") == 0;
	sc->nhost += strcasecmp(key, "Host") == 0;
	sc->nauth += strcasecmp(key, "Authorization") == 0;
	sc->norigin += strcasecmp(key, "Origin") == 0;
	return MHD_YES;
}

static const char *req_header(const struct req *rq, const char *name)
{
	struct http_request r = {.hdrs_ = rq->hdrs, .nhdrs_ = rq->nhdrs};
	return http_header(&r, name);
}

/* The request line as MHD saw it: 0, or a status with *msg. */
static int judge_line(struct req *rq, const char *method, const char *version,
		      const char **msg)
{
	*msg = "bad request line";
	if (!http_is_token(method) || strlen(method) > HTTP_MAX_METHOD)
		return 400;
	snprintf(rq->method, sizeof rq->method, "%s", method);
	const char *t = rq->target;
	if (strlen(method) + strlen(t) + strlen(rq->query) + 12 > rq->c->srv->lim.max_head) {
		*msg = "request line too long";
		return 414;
	}
	if (t[0] != '/')
		return 400;
	for (; *t; t++)
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f || *t == '#')
			return 400;
	for (t = rq->query; *t; t++)
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f || *t == '#')
			return 400;
	if (strcmp(version, "HTTP/1.1") == 0 || strcmp(version, "HTTP/1.0") == 0) {
		rq->minor = version[7] - '0';
		return 0;
	}
	if (strlen(version) == 8 && strncmp(version, "HTTP/", 5) == 0 && version[5] >= '0' &&
	    version[5] <= '9' && version[6] == '.' && version[7] >= '0' && version[7] <= '9') {
		*msg = "HTTP version not supported";
		return 505;
	}
	return 400;
}

/* Headers and framing: 0, or a status with *msg. Fills rq->hdrs. */
static int judge_head(struct req *rq, struct MHD_Connection *mc, const char **msg)
{
	struct scan sc = {.rq = rq, .max_head = rq->c->srv->lim.max_head};
	/* the request line counts too */
	sc.bytes = strlen(rq->method) + strlen(rq->target) + strlen(rq->query) + 12;
	MHD_get_connection_values_n(mc, MHD_HEADER_KIND, scan_header, &sc);
	if (sc.status) {
		*msg = sc.msg;
		return sc.status;
	}
	rq->hdrs = qm_calloc(sc.n ? sc.n : 1, sizeof *rq->hdrs);
	rq->hbuf = qm_malloc(sc.bytes + 1);
	sc.out = rq->hbuf;
	MHD_get_connection_values_n(mc, MHD_HEADER_KIND, scan_header, &sc);
	*msg = "duplicate header";
	if (sc.nauth > 1 || sc.nhost > 1 || sc.norigin > 1)
		return 400;
	const char *te = req_header(rq, "Transfer-Encoding");
	if (te) {
		bool chunked = http_has_token(te, "chunked");
		*msg = chunked ? "chunked request bodies are not supported; send Content-Length"
			       : "transfer codings are not supported";
		return chunked ? 411 : 501;
	}
	*msg = "duplicate Content-Length";
	if (sc.ncl > 1)
		return 400;
	const char *cl = req_header(rq, "Content-Length");
	*msg = "invalid Content-Length";
	if (cl && !*cl)
		return 400;
	uint64_t clen = 0;
	for (const char *p = cl ? cl : ""; *p; p++) {
		if (*p < '0' || *p > '9')
			return 400;
		clen = clen > (UINT64_MAX - 9) / 10 ? UINT64_MAX : clen * 10 + (uint64_t)(*p - '0');
	}
	rq->clen = clen > SIZE_MAX ? SIZE_MAX : (size_t)clen;
	const char *conn_h = req_header(rq, "Connection");
	rq->keep_alive = rq->minor == 1 && !(conn_h && http_has_token(conn_h, "close"));
	return 0;
}

/* Auth (when set): 0 or the refusal already queued in *rv. */
static int judge_auth(struct req *rq, enum MHD_Result *rv)
{
	struct http_server *s = rq->c->srv;
	if (!s->auth)
		return 0;
	bool mutating = !http_is_read_method(rq->method);
	struct auth_request ar = {
		.access = (enum auth_access)rq->route->access,
		.mutating = mutating,
		.peer = rq->c->remote,
		.authorization = req_header(rq, "Authorization"),
		.origin = req_header(rq, "Origin"),
		.host = req_header(rq, "Host"),
		.now_ms = ev_now_ms(),
	};
	struct auth_result res;
	auth_check(s->auth, &ar, &res);
	snprintf(rq->who, sizeof rq->who, "%s", res.who);
	if (res.status == 0)
		return 0;
	http_warn_reject(s, rq->c->remote, res.status, res.reason);
	if (res.status == 401)
		/* a browser asks for Basic on a read; calls that change
		 * something take a bearer token only */
		*rv = http_reply_error(rq, 401, "unauthorized", "WWW-Authenticate",
				  mutating ? "Bearer"
					   : "Basic realm=\"quobyte-mesos\", charset=\"UTF-8\"");
	else if (res.status == 429)
		*rv = http_reply_error(rq, 429, "too many failed attempts", "Retry-After", "60");
	else
		*rv = http_reply_error(rq, res.status, res.status == 403 ? "forbidden" : "bad request",
				  NULL, NULL);
	return res.status;
}

/* The head is complete: judge it before any body is read. MHD answers
 * "Expect: 100-continue" itself when we return without an answer. */
enum MHD_Result http_judge(struct req *rq, struct MHD_Connection *mc, const char *method,
			     const char *version)
{
	struct http_server *s = rq->c->srv;
	const char *msg;
	int st = judge_line(rq, method, version, &msg);
	if (!st)
		st = judge_head(rq, mc, &msg);
	if (st)
		return http_reject(rq, st, msg);
	char allow[256];
	st = http_route_find(s->routes, s->nroutes, rq->method, rq->target, &rq->route, allow,
			     sizeof allow);
	if (st == 404)
		return http_reply_error(rq, 404, "not found", NULL, NULL);
	if (st == 405)
		return http_reply_error(rq, 405, "method not allowed", "Allow", allow);
	enum MHD_Result rv = MHD_YES;
	if (judge_auth(rq, &rv))
		return rv;
	if (rq->clen > s->lim.max_body)
		return http_reject(rq, 413, "request body too large");
	const char *expect = req_header(rq, "Expect");
	if (expect && strcasecmp(expect, "100-continue") != 0)
		return http_reject(rq, 417, "unsupported expectation");
	rq->body = qm_malloc(rq->clen + 1);
	return MHD_YES;
}

