/* Private to coordinator/api/http*.c: what the engine (http.c, libmicrohttpd
 * on our loop) and the request/response side (http_routes.c: answering,
 * routing, accessors) share. Nothing here is part of the http.h contract. */
#ifndef QM_HTTP_INT_H
#define QM_HTTP_INT_H

#include "api/http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_EXTRA_HEADERS 4096u /* handler-added response headers */
#define HTTP_MAX_METHOD 32

struct http_hdr {
	const char *name;
	const char *value;
};

struct http_response {
	size_t max_response;
	bool open;      /* inside the handler: answering allowed */
	bool answered;
	bool failed;    /* answer with 500 instead */
	int status;
	char *ctype;
	char *body;     /* malloc'd, body_len bytes */
	size_t body_len;
	int fd;         /* file to stream, -1 if none */
	uint64_t file_size;
	bool no_store;
	char *extra;    /* "Name: value\r\n"..., at most HTTP_MAX_EXTRA_HEADERS */
	size_t extra_len;
};

/* Free what r holds and make it empty (fd -1), keeping max_response. */
void http_resp_reset(struct http_response *r);

bool http_is_token(const char *s);
/* Printable ASCII plus SP/HTAB, at most max bytes. */
bool http_is_field_text(const char *s, size_t max);
/* Whether the comma-separated list holds tok (case-insensitive). */
bool http_has_token(const char *list, const char *tok);

/* The most specific route for (method, path): 0 with *out, or 404, or 405
 * with the Allow list in allow (cap bytes). HEAD matches a GET route. */
int http_route_find(const struct http_route *routes, size_t n, const char *method,
		    const char *path, const struct http_route **out, char *allow,
		    size_t cap);

#endif
