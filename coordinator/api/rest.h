/* The coordinator's REST API: /v1/health, /v1/state, /v1/version,
 * /v1/audit, /v1/framework/reset, the prober binary, the status page, and
 * the route to /metrics (its handler is api/metrics.h's). The handlers run
 * on the loop thread (http.h) and read and change the coordinator's state
 * directly; their ctx is the coordinator (struct coord,
 * shell/coord_priv.h). */
#ifndef QM_REST_H
#define QM_REST_H

#include "api/http.h"

#include <stddef.h>

/* The route table for http_server_new(), rest_nroutes entries. */
extern const struct http_route rest_routes[];
extern const size_t rest_nroutes;

/* The audit hook (http_audit_fn, ctx the coordinator): every mutating REST
 * call, once answered, as one log line and an entry in the audit ring. */
void rest_on_audit(void *ctx, const char *peer, const char *who, const char *method,
		   const char *path, const char *body, size_t body_len, int status);

#endif
