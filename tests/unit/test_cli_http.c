/* cli_http: what needs no server: URL path segments, token files and
 * tokens, and a refused connection (exit 3 material) against a port
 * nothing listens on. The requests themselves are covered end to end by
 * tests/e2e/test_cli.py. */
#include "cli_http.h"
#include "qm_error.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOKEN "0123456789abcdef0123456789abcdef"

Test(cli_http, segment_encoding)
{
	char *s = cli_http_segment("agent-1.example_com~");
	cr_assert_str_eq(s, "agent-1.example_com~");
	free(s);
	s = cli_http_segment("a/b ?#%\xc3\xa9");
	cr_assert_str_eq(s, "a%2Fb%20%3F%23%25%C3%A9");
	free(s);
	s = cli_http_segment("..");
	cr_assert_str_eq(s, "..");
	free(s);
}

static int parse(const char *text, char *tok, char *err)
{
	return cli_token_parse(text, strlen(text), tok, CLI_TOKEN_MAX + 1, err, 160);
}

Test(cli_http, token_file_forms)
{
	char tok[CLI_TOKEN_MAX + 1], err[160];
	cr_assert_eq(parse(TOKEN "\n", tok, err), 0, "%s", err);
	cr_assert_str_eq(tok, TOKEN);
	cr_assert_eq(parse("# comment\n\n  " TOKEN "  \r\n", tok, err), 0, "%s", err);
	cr_assert_str_eq(tok, TOKEN);
	/* the coordinator's format: the first admin entry wins */
	cr_assert_eq(parse("viewer read rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr\n"
			   "ops admin " TOKEN "\n"
			   "ops2 admin bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n",
			   tok, err),
		     0, "%s", err);
	cr_assert_str_eq(tok, TOKEN);
	/* no admin entry: the first one */
	cr_assert_eq(parse("viewer read " TOKEN "\n", tok, err), 0, "%s", err);
	cr_assert_str_eq(tok, TOKEN);
}

Test(cli_http, token_file_errors)
{
	char tok[CLI_TOKEN_MAX + 1], err[160];
	cr_assert_eq(parse("", tok, err), QM_EINVAL);
	cr_assert_str_eq(err, "no token in it");
	cr_assert_eq(parse("# only a comment\n", tok, err), QM_EINVAL);
	cr_assert_eq(parse("a b\n", tok, err), QM_EINVAL);
	cr_assert_str_eq(err, "line 1: expected TOKEN or NAME ROLE TOKEN");
	cr_assert_eq(parse("\na b c d\n", tok, err), QM_EINVAL);
	cr_assert_str_eq(err, "line 2: expected TOKEN or NAME ROLE TOKEN");
	char big[400];
	memset(big, 'x', 300);
	big[300] = '\0';
	cr_assert_eq(parse(big, tok, err), QM_EINVAL);
	cr_assert(strstr(err, "longer than 256"), "%s", err);
	cr_assert_null(strstr(err, "xxx"), "the token is never quoted");
	/* a NUL inside the token */
	char nul[] = "abc\0def";
	cr_assert_eq(cli_token_parse(nul, sizeof nul - 1, tok, sizeof tok, err, sizeof err),
		     QM_EINVAL);
}

Test(cli_http, token_valid)
{
	cr_assert(cli_token_valid(TOKEN));
	cr_assert_not(cli_token_valid(""));
	cr_assert_not(cli_token_valid("a b"));
	cr_assert_not(cli_token_valid("abc\r\nX-Evil: 1"));
	cr_assert_not(cli_token_valid("\xc3\xa9"));
}

Test(cli_http, token_load_caps_and_files)
{
	char tok[CLI_TOKEN_MAX + 1], err[300];
	char path[] = "/tmp/test_cli_http_XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, TOKEN "\n", sizeof TOKEN), (ssize_t)sizeof TOKEN);
	cr_assert_eq(cli_token_load(path, tok, sizeof tok, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(tok, TOKEN);
	/* over the cap: refused, whatever the content */
	char *blob = calloc(1, CLI_TOKEN_FILE_MAX);
	memset(blob, '#', CLI_TOKEN_FILE_MAX);
	cr_assert_eq(write(fd, blob, CLI_TOKEN_FILE_MAX), (ssize_t)CLI_TOKEN_FILE_MAX);
	free(blob);
	close(fd);
	cr_assert_eq(cli_token_load(path, tok, sizeof tok, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "larger than"), "%s", err);
	unlink(path);
	cr_assert_eq(cli_token_load(path, tok, sizeof tok, err, sizeof err), QM_EIO);
	cr_assert_eq(cli_token_load("/tmp", tok, sizeof tok, err, sizeof err), QM_EIO);
	cr_assert(strstr(err, "not a regular file"), "%s", err);
}

/* A port nothing listens on: bound, then closed. */
static int dead_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t l = sizeof a;
	getsockname(s, (struct sockaddr *)&a, &l);
	close(s);
	return ntohs(a.sin_port);
}

Test(cli_http, unreachable_and_bad_options)
{
	cr_assert_eq(cli_http_global_init(), 0);
	char url[64], err[512];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", dead_port());
	struct cli_http_opts o = {.url = url, .timeout_ms = 2000};
	struct cli_http_resp r;
	cr_assert_eq(cli_http_call(&o, "GET", "/v1/state", NULL, NULL, 0, &r, err, sizeof err),
		     QM_EIO);
	cr_assert(strstr(err, "cannot reach"), "%s", err);
	cr_assert(strstr(err, "/v1/state"), "one '/' between base and path: %s", err);
	cr_assert_null(strstr(err, "//v1"), "%s", err);
	cr_assert_null(r.body);
	o.token = "bad token";
	cr_assert_eq(cli_http_call(&o, "GET", "/v1/state", NULL, NULL, 0, &r, err, sizeof err),
		     QM_EINVAL);
	o.token = NULL;
	o.url = "ftp://127.0.0.1";
	cr_assert_eq(cli_http_call(&o, "GET", "/x", NULL, NULL, 0, &r, err, sizeof err), QM_EINVAL,
		     "%s", err);
	cli_http_global_fini();
}

/* ---- a one-shot HTTP server on a thread: captures the request, sends a
 * canned answer of `body_len` bytes of `fill` (or `answer` as is) */

struct mini {
	int lfd, port;
	const char *head; /* status line + headers, without the blank line */
	const char *answer;
	size_t body_len;
	char req[8192];
	size_t req_len;
	pthread_t th;
};

static void *mini_run(void *arg)
{
	struct mini *m = arg;
	int c = accept(m->lfd, NULL, NULL);
	if (c < 0)
		return NULL;
	/* read until the end of the headers and a body the length says */
	while (m->req_len < sizeof m->req - 1) {
		ssize_t r = read(c, m->req + m->req_len, sizeof m->req - 1 - m->req_len);
		if (r <= 0)
			break;
		m->req_len += (size_t)r;
		m->req[m->req_len] = '\0';
		char *end = strstr(m->req, "\r\n\r\n");
		if (!end)
			continue;
		const char *cl = strcasestr(m->req, "Content-Length:");
		size_t want = cl ? (size_t)atoi(cl + 15) : 0;
		if (m->req_len >= (size_t)(end + 4 - m->req) + want)
			break;
	}
	char hdr[512];
	int n = snprintf(hdr, sizeof hdr, "%s\r\nConnection: close\r\n\r\n", m->head);
	(void)!write(c, hdr, (size_t)n);
	if (m->answer) {
		(void)!write(c, m->answer, strlen(m->answer));
	} else {
		static char chunk[65536];
		memset(chunk, 'x', sizeof chunk);
		for (size_t sent = 0; sent < m->body_len;) {
			size_t k = m->body_len - sent < sizeof chunk ? m->body_len - sent
								     : sizeof chunk;
			ssize_t w = send(c, chunk, k, MSG_NOSIGNAL);
			if (w <= 0)
				break;
			sent += (size_t)w;
		}
	}
	close(c);
	return NULL;
}

static void mini_start(struct mini *m)
{
	m->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(m->lfd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t l = sizeof a;
	getsockname(m->lfd, (struct sockaddr *)&a, &l);
	m->port = ntohs(a.sin_port);
	cr_assert_eq(listen(m->lfd, 1), 0);
	cr_assert_eq(pthread_create(&m->th, NULL, mini_run, m), 0);
}

static void mini_stop(struct mini *m)
{
	pthread_join(m->th, NULL);
	close(m->lfd);
}

Test(cli_http, request_carries_token_type_and_body)
{
	cr_assert_eq(cli_http_global_init(), 0);
	struct mini m = {.head = "HTTP/1.1 409 Conflict\r\nContent-Type: application/json",
			 .answer = "{\"error\":\"the rollout is already paused\"}"};
	mini_start(&m);
	char url[64], err[512];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", m.port);
	struct cli_http_opts o = {.url = url, .token = TOKEN, .timeout_ms = 5000};
	struct cli_http_resp r;
	cr_assert_eq(cli_http_call(&o, "POST", "/v1/version", "text/plain", "3.0.2", 5, &r, err,
				   sizeof err),
		     0, "%s", err);
	mini_stop(&m);
	cr_assert_eq(r.status, 409);
	cr_assert_str_eq(r.body, "{\"error\":\"the rollout is already paused\"}");
	cr_assert(strncmp(m.req, "POST /v1/version HTTP/1.1\r\n", 27) == 0, "%s", m.req);
	cr_assert(strstr(m.req, "\r\nAuthorization: Bearer " TOKEN "\r\n"), "%s", m.req);
	cr_assert(strstr(m.req, "\r\nContent-Type: text/plain\r\n"), "%s", m.req);
	cr_assert(strstr(m.req, "\r\n\r\n3.0.2"), "%s", m.req);
	cli_http_resp_fini(&r);
	cli_http_global_fini();
}

Test(cli_http, delete_without_body)
{
	cr_assert_eq(cli_http_global_init(), 0);
	struct mini m = {.head = "HTTP/1.1 202 Accepted", .answer = "{}"};
	mini_start(&m);
	char url[64], err[512];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", m.port);
	struct cli_http_opts o = {.url = url, .timeout_ms = 5000};
	struct cli_http_resp r;
	cr_assert_eq(cli_http_call(&o, "DELETE", "/v1/reservations/a/data", NULL, NULL, 0, &r, err,
				   sizeof err),
		     0, "%s", err);
	mini_stop(&m);
	cr_assert_eq(r.status, 202);
	cr_assert(strncmp(m.req, "DELETE /v1/reservations/a/data HTTP/1.1\r\n", 41) == 0, "%s",
		  m.req);
	cr_assert_null(strstr(m.req, "Authorization"), "no token, no header");
	cli_http_resp_fini(&r);
	cli_http_global_fini();
}

Test(cli_http, answer_over_the_cap_is_refused, .timeout = 60)
{
	cr_assert_eq(cli_http_global_init(), 0);
	/* no Content-Length: the cap must hold while the body streams */
	struct mini m = {.head = "HTTP/1.1 200 OK", .body_len = CLI_HTTP_BODY_MAX + 1};
	mini_start(&m);
	char url[64], err[512];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", m.port);
	struct cli_http_opts o = {.url = url, .timeout_ms = 30000};
	struct cli_http_resp r;
	cr_assert_eq(cli_http_call(&o, "GET", "/v1/state", NULL, NULL, 0, &r, err, sizeof err),
		     QM_ETOOBIG, "%s", err);
	mini_stop(&m);
	cr_assert_str_eq(err, "the answer is larger than 16 MiB");
	cr_assert_null(r.body);
	cli_http_global_fini();
}

Test(cli_http, answer_at_the_cap_is_taken, .timeout = 60)
{
	cr_assert_eq(cli_http_global_init(), 0);
	struct mini m = {.head = "HTTP/1.1 200 OK", .body_len = CLI_HTTP_BODY_MAX};
	mini_start(&m);
	char url[64], err[512];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", m.port);
	struct cli_http_opts o = {.url = url, .timeout_ms = 30000};
	struct cli_http_resp r;
	cr_assert_eq(cli_http_call(&o, "GET", "/v1/state", NULL, NULL, 0, &r, err, sizeof err), 0,
		     "%s", err);
	mini_stop(&m);
	cr_assert_eq(r.len, CLI_HTTP_BODY_MAX);
	cr_assert_eq(r.body[r.len], '\0');
	cli_http_resp_fini(&r);
	cli_http_global_fini();
}
