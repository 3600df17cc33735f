#include "mesos/url.h"

#include "qm_error.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static CURLU *url_new(void)
{
	CURLU *u = curl_url();
	if (!u)
		qm_oom();
	return u;
}

char *mesos_url_with_path(const char *base, const char *path)
{
	CURLU *u = url_new();
	char *s = NULL, *out = NULL;
	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_PATH, path, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
		out = qm_strdup(s);
	curl_free(s);
	curl_url_cleanup(u);
	return out;
}

bool mesos_url_same_master(const char *a, const char *b)
{
	static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT};
	CURLU *ua = url_new(), *ub = url_new();
	bool same = a && b && curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
		    curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK;
	for (size_t i = 0; same && i < sizeof parts / sizeof parts[0]; i++) {
		char *x = NULL, *y = NULL;
		same = curl_url_get(ua, parts[i], &x, CURLU_DEFAULT_PORT) == CURLUE_OK &&
		       curl_url_get(ub, parts[i], &y, CURLU_DEFAULT_PORT) == CURLUE_OK &&
		       strcasecmp(x, y) == 0;
		curl_free(x);
		curl_free(y);
	}
	curl_url_cleanup(ua);
	curl_url_cleanup(ub);
	return same;
}

/* The master a redirect names: http or https (a "//" Location takes the
 * leader's scheme, whatever that was), no credentials, a plain host name or
 * address ([A-Za-z0-9.-] or a bracketed IPv6 address, at most 255). A
 * Location without a path ("//host:port", what Mesos sends for
 * /redirect) gets default_path (and no query), as does an overlong one or
 * one with blanks (own_path false). */
static bool redirect_usable(CURLU *u, const char *default_path, bool own_path)
{
	char *scheme = NULL, *user = NULL, *pass = NULL, *host = NULL, *path = NULL;
	bool ok = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		  (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
		  curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
		  curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_NO_PASSWORD &&
		  curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] &&
		  strlen(host) <= 255;
	for (const char *c = ok ? host : ""; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == ':' ||
		      *c == '[' || *c == ']'))
			ok = false;
	if (ok && curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK &&
	    (!own_path || strcmp(path, "/") == 0 || strlen(path) > 255))
		ok = curl_url_set(u, CURLUPART_PATH, default_path, 0) == CURLUE_OK &&
		     curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK;
	curl_free(scheme);
	curl_free(user);
	curl_free(pass);
	curl_free(host);
	curl_free(path);
	return ok;
}

char *mesos_url_redirect(const char *leader, const char *loc, const char *default_path)
{
	if (strncmp(loc, "//", 2) != 0 && strncmp(loc, "http://", 7) != 0 &&
	    strncmp(loc, "https://", 8) != 0)
		return NULL;
	CURLU *u = url_new();
	char *e = NULL, *out = NULL;
	if (curl_url_set(u, CURLUPART_URL, leader, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, loc, 0) == CURLUE_OK &&
	    redirect_usable(u, default_path, !strpbrk(loc, " \t\r\n")) &&
	    curl_url_get(u, CURLUPART_URL, &e, 0) == CURLUE_OK)
		out = qm_strdup(e);
	curl_free(e);
	curl_url_cleanup(u);
	return out;
}
