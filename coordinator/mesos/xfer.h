/* One libcurl transfer of the Mesos client: the SUBSCRIBE stream, an
 * ordinary call, or the GET /version probe. Builds the easy handle (URL,
 * headers, body, timeouts, basic authentication, TLS verification of https
 * masters) and reads the answer's status and headers through libcurl's own
 * API (CURLINFO_RESPONSE_CODE, curl_easy_header), so nothing here parses
 * HTTP. Part of the client (coordinator/mesos/client.h); loop thread only.
 * Out of memory aborts (qm_oom). */
#ifndef QM_MESOS_XFER_H
#define QM_MESOS_XFER_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#define MESOS_XFER_ERRBODY 1024 /* kept bytes of an answer's body */
#define MESOS_XFER_HEADER  512  /* longest header value kept */

struct mesos_client;

struct mesos_xfer {
	struct mesos_client *mc;
	CURL *easy;
	struct curl_slist *headers;
	char *body;                       /* request body, owned */
	long status;                      /* of the answer, 0 until known (mesos_xfer_status) */
	char errbody[MESOS_XFER_ERRBODY]; /* first bytes of the body (calls, probe,
					   * a SUBSCRIBE answered with non-200) */
	size_t errlen;
	char errbuf[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER */
	char call_type[32];
	struct mesos_xfer *next;  /* list of ordinary calls (mc->calls) */
	struct mesos_xfer *prev;  /* ... doubly linked: O(1) removal when done */
	struct mesos_xfer *qnext; /* queue of calls not yet handed to curl */
	bool queued;
	bool handed;  /* an ordinary call handed to curl, not done */
	bool barrier; /* REVIVE/SUPPRESS: see mesos_calls_flush() */
};

/* POST `body` (the Call; printed, not taken) to mc->endpoint. A call
 * carries mc->stream_id and has mc's call timeout and keeps its answer's
 * first bytes; the SUBSCRIBE stream (stream_cb != NULL) hands its body to
 * stream_cb (CURLOPT_WRITEFUNCTION, WRITEDATA the transfer) and has no
 * total timeout. Not yet handed to curl. Never NULL. */
struct mesos_xfer *mesos_xfer_post(struct mesos_client *mc, const cJSON *body,
				   curl_write_callback stream_cb);
/* GET url (the probe), answer kept like a call's; `what` names it in logs.
 * Not yet handed to curl. Never NULL. */
struct mesos_xfer *mesos_xfer_get(struct mesos_client *mc, const char *url, const char *what);
/* Take x out of the call list and queue, out of curl, and free it. NULL ok. */
void mesos_xfer_free(struct mesos_xfer *x);

/* The answer's HTTP status (0 while none arrived), also stored in
 * x->status. Callable from x's write callback and after completion. */
long mesos_xfer_status(struct mesos_xfer *x);
/* The value of header `name` in the answer (the last one when it appears
 * more than once), cut to cap - 1 bytes, into out; "" and false when it
 * has none. Same callers as mesos_xfer_status. */
bool mesos_xfer_header(const struct mesos_xfer *x, const char *name, char *out, size_t cap);
/* Keep the first MESOS_XFER_ERRBODY - 1 bytes of what arrives. */
void mesos_xfer_keep(struct mesos_xfer *x, const char *buf, size_t len);
/* A failed transfer (res != CURLE_OK) in words, naming TLS trouble and the
 * flag that fixes it. */
void mesos_xfer_error(const struct mesos_xfer *x, CURLcode res, char *out, size_t cap);

#endif
