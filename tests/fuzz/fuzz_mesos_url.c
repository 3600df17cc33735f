/* The Mesos client's URL handling (coordinator/mesos/url.h) on a 307
 * Location from an untrusted master. Input: "leader\nlocation"; without a
 * newline the whole input is the Location against http://m1:5050. The
 * contract (url.h): a redirect is NULL or an http(s) URL with a plain host
 * (or bracketed IPv6), no credentials, no blanks or control bytes, a path
 * of at most 255 (or default_path), and "//" keeps the leader's scheme. */
#include "mesos/url.h"
#include "fuzz_common.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

static const char *const default_path = "/api/v1/scheduler";

static bool host_plain(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > 255)
		return false;
	const char *ok = h[0] == '[' ? "0123456789abcdefABCDEF:.[]" :
				       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";
	if (h[0] == '[' && h[n - 1] != ']')
		return false;
	return strspn(h, ok) == n;
}

static void check_redirect(const char *leader, const char *loc, const char *out)
{
	for (const char *c = out; *c; c++)
		FUZZ_CHECK((unsigned char)*c > 0x20 && (unsigned char)*c != 0x7f);
	bool https = strncmp(out, "https://", 8) == 0;
	FUZZ_CHECK(https || strncmp(out, "http://", 7) == 0);
	CURLU *u = curl_url();
	FUZZ_CHECK(u);
	if (strncmp(loc, "//", 2) == 0) {
		/* the leader's scheme as libcurl reads it ("HTTPS:/h" too) */
		char *scheme = NULL;
		FUZZ_CHECK(curl_url_set(u, CURLUPART_URL, leader, 0) == CURLUE_OK);
		FUZZ_CHECK(curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK);
		FUZZ_CHECK(https == (strcmp(scheme, "https") == 0));
		curl_free(scheme);
	}
	FUZZ_CHECK(curl_url_set(u, CURLUPART_URL, out, 0) == CURLUE_OK);
	char *user = NULL, *pass = NULL, *host = NULL, *path = NULL;
	FUZZ_CHECK(curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER);
	FUZZ_CHECK(curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_NO_PASSWORD);
	FUZZ_CHECK(curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK);
	FUZZ_CHECK(host_plain(host));
	FUZZ_CHECK(curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK);
	FUZZ_CHECK(strlen(path) <= 255 || strcmp(path, default_path) == 0);
	/* the target is a master: comparable with itself */
	FUZZ_CHECK(mesos_url_same_master(out, out));
	curl_free(user);
	curl_free(pass);
	curl_free(host);
	curl_free(path);
	curl_url_cleanup(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	const char *leader = "http://m1:5050", *loc = s;
	char *nl = memchr(s, '\n', size);
	if (nl) {
		*nl = '\0';
		leader = s;
		loc = nl + 1;
	}
	char *out = mesos_url_redirect(leader, loc, default_path);
	bool named = strncmp(loc, "//", 2) == 0 || strncmp(loc, "http://", 7) == 0 ||
		     strncmp(loc, "https://", 8) == 0;
	/* a bare path, another scheme, garbage: unusable (Mesos names the leader) */
	FUZZ_CHECK(named || !out);
	if (out)
		check_redirect(leader, loc, out);
	free(out);

	/* the same bytes as a base URL and as a pair of masters. A
	 * percent-encoded leader host ("%34...") is decoded by the first parse
	 * and so names another host afterwards; the detector never hands one
	 * over (its hosts are plain), so it is left out of this property. */
	char *with = mesos_url_with_path(leader, "/version");
	if (with && !strchr(leader, '%'))
		FUZZ_CHECK(mesos_url_same_master(with, leader) ==
			   mesos_url_same_master(leader, leader));
	free(with);
	FUZZ_CHECK(mesos_url_same_master(leader, loc) == mesos_url_same_master(loc, leader));
	free(s);
	return 0;
}
