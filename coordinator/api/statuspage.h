/* The coordinator's status page: three static resources, the HTML at "/",
 * its script at "/status.js" and its style sheet at "/status.css". The
 * script fetches /v1/state (and /v1/audit) and builds the page with DOM
 * calls only (createElement, textContent): device serials and models come
 * from marker files anyone with root on a node can write, problem texts
 * quote the Mesos master, so nothing taken from the state is ever parsed as
 * markup.
 *
 * Because the page has no inline script or style, it can be served with a
 * strict Content-Security-Policy (statuspage.c says which and why): even a
 * bug that put data into markup could not run script. Every response of
 * these handlers also carries X-Frame-Options: DENY,
 * X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer.
 *
 * The handlers are http_handler_fn (http.h) for the coordinator's route
 * table: GET routes of read access (with --http-auth-read a read or admin
 * token, which a browser sends as Basic; the page holds no data itself:
 * what it shows is whatever /v1/state and /v1/audit answer the browser).
 * They ignore req and ctx, never block, and run on the loop's thread like
 * every handler. */
#ifndef QM_STATUSPAGE_H
#define QM_STATUSPAGE_H

#include "api/http.h"

/* The policy every status page response carries (a static string). */
extern const char statuspage_csp[];

/* GET / : the HTML document (text/html). */
void statuspage_html(const struct http_request *req, struct http_response *resp, void *ctx);

/* GET /status.js : the page's script (text/javascript). */
void statuspage_js(const struct http_request *req, struct http_response *resp, void *ctx);

/* GET /status.css : the page's style sheet (text/css). */
void statuspage_css(const struct http_request *req, struct http_response *resp, void *ctx);

#endif
