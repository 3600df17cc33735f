/* The CLI's libcurl client and token files (cli_http.h). */
#include "cli_http.h"

#include "qm_error.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : QM_EIO;
}

void cli_http_global_fini(void)
{
	curl_global_cleanup();
}

void cli_http_resp_fini(struct cli_http_resp *r)
{
	free(r->body);
	*r = (struct cli_http_resp){0};
}

bool cli_token_valid(const char *tok)
{
	size_t n = 0;
	for (const char *p = tok; *p; p++, n++)
		if (*p <= 0x20 || *p >= 0x7f || n >= CLI_TOKEN_MAX)
			return false;
	return n > 0;
}

char *cli_http_segment(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = qm_malloc(3 * n + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* ------------------------------------------------------------ token files */

int cli_token_parse(const char *text, size_t len, char *tok, size_t cap, char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	int line = 0, chosen_line = 0;
	char first[CLI_TOKEN_MAX + 2] = "", admin[CLI_TOKEN_MAX + 2] = "";
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		line++;
		/* up to four blank-separated fields; a fourth is an error */
		const char *f[4];
		size_t fl[4], nf = 0;
		const char *q = p;
		while (q < eol) {
			while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
				q++;
			if (q == eol)
				break;
			if (nf == 0 && *q == '#')
				break;
			const char *s = q;
			while (q < eol && *q != ' ' && *q != '\t' && *q != '\r')
				q++;
			if (nf == 4)
				return qm_fail(err, errlen, QM_EINVAL,
					       "line %d: expected TOKEN or NAME ROLE TOKEN", line);
			f[nf] = s;
			fl[nf++] = (size_t)(q - s);
		}
		p = eol < end ? eol + 1 : end;
		if (nf == 0)
			continue;
		if (nf != 1 && nf != 3)
			return qm_fail(err, errlen, QM_EINVAL,
				       "line %d: expected TOKEN or NAME ROLE TOKEN", line);
		size_t tl = fl[nf - 1];
		if (tl > CLI_TOKEN_MAX || memchr(f[nf - 1], '\0', tl))
			return qm_fail(err, errlen, QM_EINVAL,
				       "line %d: the token is longer than %d characters", line,
				       CLI_TOKEN_MAX);
		if (!first[0]) {
			memcpy(first, f[nf - 1], tl);
			first[tl] = '\0';
			chosen_line = line;
		}
		if (nf == 3 && !admin[0] && fl[1] == 5 && memcmp(f[1], "admin", 5) == 0) {
			memcpy(admin, f[2], tl);
			admin[tl] = '\0';
			chosen_line = line;
		}
	}
	const char *t = admin[0] ? admin : first;
	if (!t[0])
		return qm_fail(err, errlen, QM_EINVAL, "no token in it");
	if (!cli_token_valid(t))
		return qm_fail(err, errlen, QM_EINVAL,
			       "line %d: the token has characters a header cannot carry",
			       chosen_line);
	if (strlen(t) >= cap)
		return qm_fail(err, errlen, QM_EINVAL, "the token is too long");
	memcpy(tok, t, strlen(t) + 1);
	return 0;
}

int cli_token_load(const char *path, char *tok, size_t cap, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return qm_fail(err, errlen, QM_EIO, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return qm_fail(err, errlen, QM_EIO, "%s: not a regular file", path);
	}
	char *buf = qm_malloc(CLI_TOKEN_FILE_MAX + 1);
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, CLI_TOKEN_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			free(buf);
			return qm_fail(err, errlen, QM_EIO, "%s: %s", path, strerror(e));
		}
		if (r == 0 || (n += (size_t)r) > CLI_TOKEN_FILE_MAX)
			break;
	}
	close(fd);
	int rv;
	if (n > CLI_TOKEN_FILE_MAX) {
		rv = qm_fail(err, errlen, QM_EINVAL, "%s: larger than %u bytes", path,
			     CLI_TOKEN_FILE_MAX);
	} else {
		char why[160];
		rv = cli_token_parse(buf, n, tok, cap, why, sizeof why);
		if (rv)
			qm_fail(err, errlen, rv, "%s: %s", path, why);
	}
	explicit_bzero(buf, CLI_TOKEN_FILE_MAX + 1);
	free(buf);
	return rv;
}

/* ------------------------------------------------------------- requests */

struct sink {
	char *buf;
	size_t len, cap;
	bool toobig;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	if (n > CLI_HTTP_BODY_MAX - s->len) {
		s->toobig = true;
		return 0; /* libcurl stops with CURLE_WRITE_ERROR */
	}
	if (s->len + n + 1 > s->cap) {
		size_t want = s->cap ? s->cap : 16384;
		while (want < s->len + n + 1)
			want *= 2;
		if (want > CLI_HTTP_BODY_MAX + 1)
			want = CLI_HTTP_BODY_MAX + 1;
		s->buf = qm_realloc(s->buf, want);
		s->cap = want;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	return n;
}

int cli_http_call(const struct cli_http_opts *o, const char *method, const char *path,
		  const char *ctype, const char *body, size_t body_len, struct cli_http_resp *out,
		  char *err, size_t errlen)
{
	*out = (struct cli_http_resp){0};
	if (o->token && !cli_token_valid(o->token))
		return qm_fail(err, errlen, QM_EINVAL,
			       "the token has characters a header cannot carry");
	size_t bl = strlen(o->url);
	while (bl && o->url[bl - 1] == '/')
		bl--;
	size_t ul = bl + strlen(path) + 1;
	char *url = qm_malloc(ul);
	snprintf(url, ul, "%.*s%s", (int)bl, o->url, path);

	CURL *h = curl_easy_init();
	if (!h) {
		free(url);
		return qm_fail(err, errlen, QM_EIO, "libcurl could not start");
	}
	struct curl_slist *hdr = NULL;
	char line[CLI_TOKEN_MAX + 64];
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (o->token) {
		snprintf(line, sizeof line, "Authorization: Bearer %s", o->token);
		hdr = curl_slist_append(hdr, line);
		explicit_bzero(line, sizeof line);
	}
	if (ctype) {
		snprintf(line, sizeof line, "Content-Type: %s", ctype);
		hdr = curl_slist_append(hdr, line);
	}
	hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
	if (!hdr)
		qm_oom();

	struct sink sink = {0};
	char cerr[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "quobyte-mesos-cli");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLI_HTTP_BODY_MAX);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	if (o->ca)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca);
	if (o->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		if (body || strcmp(method, "POST") == 0) {
			curl_easy_setopt(h, CURLOPT_POST, 1L);
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
		}
	}

	CURLcode cc = curl_easy_perform(h);
	int rv = 0;
	if (sink.toobig || cc == CURLE_FILESIZE_EXCEEDED) {
		rv = qm_fail(err, errlen, QM_ETOOBIG, "the answer is larger than %u MiB",
			     CLI_HTTP_BODY_MAX >> 20);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		rv = qm_fail(err, errlen, QM_ETIMEDOUT, "%s: no answer within %lld ms", url,
			     o->timeout_ms);
	} else if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL) {
		rv = qm_fail(err, errlen, QM_EINVAL, "%s: %s", url,
			     cerr[0] ? cerr : curl_easy_strerror(cc));
	} else if (cc != CURLE_OK) {
		rv = qm_fail(err, errlen, QM_EIO, "cannot reach %s: %s", url,
			     cerr[0] ? cerr : curl_easy_strerror(cc));
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
		out->body = sink.buf ? sink.buf : qm_strdup("");
		if (sink.buf)
			sink.buf[sink.len] = '\0';
		out->len = sink.len;
		sink.buf = NULL;
	}
	free(sink.buf);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	free(url);
	return rv;
}
