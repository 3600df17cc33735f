#include "mesos/xfer.h"

#include "mesos/client.h"
#include "qm_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* curl_easy_header (7.83) and CURLOPT_PROTOCOLS_STR (7.85); Debian 12 has
 * 7.88 */
#if LIBCURL_VERSION_NUM < 0x075500
#error "libcurl 7.85 or later is needed"
#endif

void mesos_xfer_keep(struct mesos_xfer *x, const char *buf, size_t len)
{
	size_t room = MESOS_XFER_ERRBODY - 1 - x->errlen;
	if (len > room)
		len = room;
	memcpy(x->errbody + x->errlen, buf, len);
	x->errlen += len;
	x->errbody[x->errlen] = '\0';
}

static size_t keep_cb(char *buf, size_t size, size_t n, void *arg)
{
	mesos_xfer_keep(arg, buf, size * n);
	return size * n;
}

long mesos_xfer_status(struct mesos_xfer *x)
{
	long code = 0;
	if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	x->status = code;
	return code;
}

/* Redirects are followed by hand (no CURLOPT_FOLLOWLOCATION) and "Expect:"
 * is switched off, so the answer is the transfer's one response: request
 * -1 (the last) is it. */
bool mesos_xfer_header(const struct mesos_xfer *x, const char *name, char *out, size_t cap)
{
	struct curl_header *h;
	out[0] = '\0';
	if (curl_easy_header(x->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return false;
	if (h->amount > 1 &&
	    curl_easy_header(x->easy, name, h->amount - 1, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return false;
	snprintf(out, cap, "%s", h->value);
	return true;
}

void mesos_xfer_error(const struct mesos_xfer *x, CURLcode res, char *out, size_t cap)
{
	const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(res);
	switch (res) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ISSUER_ERROR:
		snprintf(out, cap,
			 "TLS: the master's certificate did not verify (%.200s): give "
			 "the CA that signed it with --mesos-ca-file",
			 detail);
		break;
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(out, cap,
			 "TLS: the CA bundle could not be used (%.200s): check "
			 "--mesos-ca-file",
			 detail);
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		snprintf(out, cap, "TLS handshake with the master failed (%.200s)", detail);
		break;
	default:
		/* the wording logs and /v1/health have always shown */
		snprintf(out, cap, "%s", curl_easy_strerror(res));
	}
}

/* What every transfer shares: where, how long, who we are, TLS. */
static CURL *easy_new(struct mesos_xfer *x, const char *url, long timeout_ms)
{
	struct mesos_client *mc = x->mc;
	CURL *e = curl_easy_init();
	if (!e)
		qm_oom();
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	if (timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	/* HTTP basic authentication with the principal, when a secret is set
	 * (masters with --authenticate_http_readonly want it on GET too) */
	if (mc->principal && mc->secret) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, mc->principal);
		curl_easy_setopt(e, CURLOPT_PASSWORD, mc->secret);
	}
	/* https masters: verified against the system's CAs, or --mesos-ca-file
	 * alone; --mesos-tls-insecure verifies nothing (warned at start) */
	if (mc->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, mc->ca_file);
	if (mc->tls_insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return e;
}

struct mesos_xfer *mesos_xfer_post(struct mesos_client *mc, const cJSON *body,
				   curl_write_callback stream_cb)
{
	struct mesos_xfer *x = qm_calloc(1, sizeof *x);
	x->mc = mc;
	x->body = cJSON_PrintUnformatted(body);
	if (!x->body)
		qm_oom();
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "type");
	snprintf(x->call_type, sizeof x->call_type, "%s", cJSON_IsString(t) ? t->valuestring : "?");
	x->barrier = strcmp(x->call_type, "REVIVE") == 0 || strcmp(x->call_type, "SUPPRESS") == 0;
	x->headers = curl_slist_append(NULL, "Content-Type: application/json");
	x->headers = curl_slist_append(x->headers, "Accept: application/json");
	x->headers = curl_slist_append(x->headers, "Expect:");
	if (!stream_cb && mc->stream_id) {
		char h[MESOS_XFER_HEADER + 20];
		snprintf(h, sizeof h, "Mesos-Stream-Id: %s", mc->stream_id);
		x->headers = curl_slist_append(x->headers, h);
	}
	if (!x->headers)
		qm_oom();
	CURL *e = x->easy = easy_new(x, mc->endpoint, stream_cb ? 0 : mc->call_timeout_ms);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, stream_cb ? stream_cb : keep_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	return x;
}

struct mesos_xfer *mesos_xfer_get(struct mesos_client *mc, const char *url, const char *what)
{
	struct mesos_xfer *x = qm_calloc(1, sizeof *x);
	x->mc = mc;
	snprintf(x->call_type, sizeof x->call_type, "%s", what);
	x->easy = easy_new(x, url, 15000L);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, keep_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	return x;
}

static void unqueue(struct mesos_xfer *x)
{
	struct mesos_client *m = x->mc;
	struct mesos_xfer *prev = NULL;
	for (struct mesos_xfer *q = m->qhead; q; prev = q, q = q->qnext) {
		if (q != x)
			continue;
		if (prev)
			prev->qnext = q->qnext;
		else
			m->qhead = q->qnext;
		if (m->qtail == q)
			m->qtail = prev;
		break;
	}
	x->queued = false;
}

void mesos_xfer_free(struct mesos_xfer *x)
{
	if (!x)
		return;
	bool in_multi = true;
	if (x->queued) {
		unqueue(x);
		in_multi = false; /* never handed to curl */
	}
	if (x->handed) {
		x->handed = false;
		x->mc->inflight--;
		if (x->barrier)
			x->mc->barrier_inflight = false;
	}
	/* O(1): with thousands of calls in flight (an ACCEPT per offer while
	 * probers are launched on 10,000 agents) a walk per completion was
	 * quadratic */
	if (x->prev)
		x->prev->next = x->next;
	else if (x->mc->calls == x)
		x->mc->calls = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->next = x->prev = NULL;
	if (in_multi)
		curl_multi_remove_handle(x->mc->multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->body);
	free(x);
}
