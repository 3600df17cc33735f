#include "api/auth.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ADMIN_TOK "adm1n-t0ken-0123456789abcdefghijklmnop"
#define READ_TOK "read-t0ken-0123456789abcdefghijklmnopq"
#define FILE_TEXT "# tokens\n\nops admin " ADMIN_TOK "\nprom read " READ_TOK "\n"

static struct auth *with_tokens(void)
{
	struct auth_tokens t;
	char err[200] = "";
	cr_assert_eq(auth_tokens_parse(FILE_TEXT, strlen(FILE_TEXT), &t, err, sizeof err), 0,
		     "%s", err);
	struct auth *a = auth_new();
	auth_set_tokens(a, &t);
	cr_assert_eq(t.n, 0);
	return a;
}

static struct auth_result check(struct auth *a, enum auth_access access, bool mutating,
				const char *authz, uint64_t now)
{
	struct auth_request r = {
		.access = access, .mutating = mutating, .peer = "10.0.0.7:40000",
		.authorization = authz, .host = "coord:7000", .now_ms = now,
	};
	struct auth_result res;
	auth_check(a, &r, &res);
	return res;
}

Test(auth, token_file_names_roles_and_a_bare_token)
{
	struct auth_tokens t;
	char err[200] = "";
	cr_assert_eq(auth_tokens_parse(FILE_TEXT, strlen(FILE_TEXT), &t, err, sizeof err), 0);
	cr_assert_eq(t.n, 2);
	cr_assert_str_eq(t.v[0].name, "ops");
	cr_assert_eq(t.v[0].role, AUTH_ROLE_ADMIN);
	cr_assert_str_eq(t.v[1].name, "prom");
	cr_assert_eq(t.v[1].role, AUTH_ROLE_READ);
	auth_tokens_free(&t);

	const char *bare = "\n  " ADMIN_TOK "  \r\n";
	cr_assert_eq(auth_tokens_parse(bare, strlen(bare), &t, err, sizeof err), 0, "%s", err);
	cr_assert_eq(t.n, 1);
	cr_assert_str_eq(t.v[0].name, "admin");
	cr_assert_eq(t.v[0].role, AUTH_ROLE_ADMIN);
	auth_tokens_free(&t);
}

Test(auth, bad_token_files_name_the_line_and_never_the_token)
{
	struct {
		const char *text, *want;
	} bad[] = {
		{ "", "no token" },
		{ "# only a comment\n", "no token" },
		{ "ops admin short\n", "line 1 (ops): the token has 5 characters" },
		{ "\nops boss " ADMIN_TOK "\n", "line 2: the role must be admin or read" },
		{ "ops admin " ADMIN_TOK "\nops read " READ_TOK "\n", "line 2: the name ops is used twice" },
		{ "ops admin " ADMIN_TOK " extra\n", "line 1: expected NAME ROLE TOKEN" },
		{ ADMIN_TOK "\nops read " READ_TOK "\n", "a bare token must be the only entry" },
		{ "o/ps admin " ADMIN_TOK "\n", "line 1: the name must be" },
		{ "ops admin " ADMIN_TOK "\x01\n", "line 1: a control character" },
		{ "ops admin " ADMIN_TOK "\x80\n", "line 1 (ops): the token holds characters" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct auth_tokens t;
		char err[200] = "";
		cr_assert_eq(auth_tokens_parse(bad[i].text, strlen(bad[i].text), &t, err,
					       sizeof err), QM_EINVAL, "case %zu", i);
		cr_assert_not_null(strstr(err, bad[i].want), "case %zu: %s", i, err);
		cr_assert_null(strstr(err, "0123456789abcdef"), "case %zu leaks: %s", i, err);
		cr_assert_eq(t.n, 0);
	}
}

Test(auth, token_file_must_be_private)
{
	char dir[] = "/tmp/qm-auth-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof path, "%s/tokens", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, FILE_TEXT, strlen(FILE_TEXT)), (ssize_t)strlen(FILE_TEXT));
	close(fd);
	chmod(path, 0644);
	struct auth_tokens t;
	char err[300] = "";
	cr_assert_eq(auth_tokens_load(path, &t, err, sizeof err), QM_EINVAL);
	cr_assert_not_null(strstr(err, "group or others may access it (mode 0644)"), "%s", err);
	chmod(path, 0600);
	cr_assert_eq(auth_tokens_load(path, &t, err, sizeof err), 0, "%s", err);
	cr_assert_eq(t.n, 2);
	auth_tokens_free(&t);
	cr_assert_eq(auth_tokens_load(dir, &t, err, sizeof err), QM_EINVAL);
	unlink(path);
	cr_assert_eq(auth_tokens_load(path, &t, err, sizeof err), QM_EIO);
	cr_assert_not_null(strstr(err, "No such file"), "%s", err);
	rmdir(dir);
}

Test(auth, roles_schemes_and_routes)
{
	struct auth *a = with_tokens();
	/* reads need nothing without read auth; public never */
	cr_assert_eq(check(a, AUTH_ACCESS_READ, false, NULL, 1).status, 0);
	cr_assert_eq(check(a, AUTH_ACCESS_PUBLIC, true, NULL, 1).status, 0);
	/* mutating: bearer admin only */
	cr_assert_eq(check(a, AUTH_ACCESS_ADMIN, true, NULL, 1).status, 401);
	struct auth_result r = check(a, AUTH_ACCESS_ADMIN, true, "Bearer " ADMIN_TOK, 1);
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.who, "ops");
	cr_assert_eq(check(a, AUTH_ACCESS_ADMIN, true, "bearer\t" ADMIN_TOK, 1).status, 0);
	r = check(a, AUTH_ACCESS_ADMIN, true, "Bearer " READ_TOK, 1);
	cr_assert_eq(r.status, 403);
	cr_assert_str_eq(r.who, "prom");
	/* Basic never on a mutating call, even with the right token */
	/* base64("x:" ADMIN_TOK) */
	const char *basic_admin = "Basic eDphZG0xbi10MGtlbi0wMTIzNDU2Nzg5YWJjZGVmZ2hpamtsbW5vcA==";
	cr_assert_eq(check(a, AUTH_ACCESS_ADMIN, true, basic_admin, 1).status, 401);
	/* admin-only GET: Basic from a browser is fine */
	r = check(a, AUTH_ACCESS_ADMIN, false, basic_admin, 1);
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.who, "ops");
	/* read auth: GETs need a token, Basic or Bearer, read or admin */
	auth_set_read_auth(a, true);
	cr_assert_eq(check(a, AUTH_ACCESS_READ, false, NULL, 1).status, 401);
	cr_assert_eq(check(a, AUTH_ACCESS_READ, false, "Bearer " READ_TOK, 1).status, 0);
	cr_assert_eq(check(a, AUTH_ACCESS_PUBLIC, false, NULL, 1).status, 0);
	cr_assert_eq(check(a, AUTH_ACCESS_ADMIN, false, "Bearer " READ_TOK, 1).status, 403);
	/* near misses and junk */
	cr_assert_eq(check(a, AUTH_ACCESS_READ, false, "Bearer " ADMIN_TOK "x", 1).status, 401);
	cr_assert_eq(check(a, AUTH_ACCESS_READ, false, "Bearer", 1).status, 401);
	cr_assert_eq(check(a, AUTH_ACCESS_READ, false, "Token " ADMIN_TOK, 1).status, 401);
	cr_assert_eq(check(a, AUTH_ACCESS_READ, false, "Basic !!!!", 1).status, 401);
	char big[AUTH_HEADER_MAX + 20];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "Bearer ", 7);
	cr_assert_eq(check(a, AUTH_ACCESS_READ, false, big, 1).status, 400);
	auth_free(a);
}

Test(auth, no_tokens_means_open)
{
	struct auth *a = auth_new();
	cr_assert_eq(check(a, AUTH_ACCESS_ADMIN, true, NULL, 1).status, 0);
	cr_assert_eq(check(a, AUTH_ACCESS_ADMIN, true, "Bearer whatever", 1).status, 0);
	auth_free(a);
}

Test(auth, origin_of_another_site_is_refused)
{
	struct auth *a = with_tokens();
	struct auth_request r = {
		.access = AUTH_ACCESS_ADMIN, .mutating = true, .peer = "10.0.0.7:1",
		.authorization = "Bearer " ADMIN_TOK, .host = "coord:7000", .now_ms = 1,
	};
	struct auth_result res;
	r.origin = "http://evil.example";
	auth_check(a, &r, &res);
	cr_assert_eq(res.status, 403);
	r.origin = "http://coord:7000";
	auth_check(a, &r, &res);
	cr_assert_eq(res.status, 0);
	r.origin = "null";
	auth_check(a, &r, &res);
	cr_assert_eq(res.status, 403);
	auth_free(a);
}

Test(auth, ten_failures_a_minute_block_the_peer_for_a_minute)
{
	struct auth *a = with_tokens();
	uint64_t t = 1000;
	for (int i = 0; i < AUTH_FAIL_LIMIT; i++)
		cr_assert_eq(check(a, AUTH_ACCESS_ADMIN, true, "Bearer nope", t + (uint64_t)i).status,
			     401);
	/* now even the right token waits */
	cr_assert_eq(check(a, AUTH_ACCESS_ADMIN, true, "Bearer " ADMIN_TOK, t + 20).status, 429);
	/* what needs no credential still works from there */
	cr_assert_eq(check(a, AUTH_ACCESS_READ, false, NULL, t + 20).status, 0);
	/* another peer is not affected */
	struct auth_request other = {
		.access = AUTH_ACCESS_ADMIN, .mutating = true, .peer = "[::1]:5",
		.authorization = "Bearer " ADMIN_TOK, .host = "coord:7000", .now_ms = t + 20,
	};
	struct auth_result res;
	auth_check(a, &other, &res);
	cr_assert_eq(res.status, 0);
	/* a minute after the last failure it is over */
	cr_assert_eq(check(a, AUTH_ACCESS_ADMIN, true, "Bearer " ADMIN_TOK,
			   t + 9 + AUTH_BLOCK_MS + 1).status, 0);
	struct auth_stats st;
	auth_stats(a, &st);
	cr_assert_eq(st.failures, AUTH_FAIL_LIMIT);
	cr_assert_eq(st.limited, 1);
	/* failures spread beyond the window never block */
	for (int i = 0; i < 3 * AUTH_FAIL_LIMIT; i++)
		cr_assert_eq(check(a, AUTH_ACCESS_ADMIN, true, "Bearer nope",
				   500000 + (uint64_t)i * 7000).status, 401);
	auth_free(a);
}

Test(auth, audit_keeps_the_last_thousand_cleaned)
{
	struct auth *a = auth_new();
	for (int i = 0; i < AUTH_AUDIT_MAX + 5; i++) {
		char body[32];
		int n = snprintf(body, sizeof body, "v%d\n\x01", i);
		auth_audit_add(a, 1000 + (uint64_t)i, "10.0.0.1:5", "ops", "POST", "/v1/version",
			       body, (size_t)n, 200);
	}
	cJSON *j = auth_audit_json(a);
	cJSON *e = cJSON_GetObjectItem(j, "entries");
	cr_assert_eq(cJSON_GetArraySize(e), AUTH_AUDIT_MAX);
	cJSON *first = cJSON_GetArrayItem(e, 0);
	cr_assert_str_eq(cJSON_GetObjectItem(first, "summary")->valuestring, "v5..");
	cr_assert_eq(cJSON_GetObjectItem(first, "time_unix_ms")->valuedouble, 1005);
	cJSON *last = cJSON_GetArrayItem(e, AUTH_AUDIT_MAX - 1);
	cr_assert_str_eq(cJSON_GetObjectItem(last, "token")->valuestring, "ops");
	cr_assert_eq(cJSON_GetObjectItem(last, "status")->valueint, 200);
	cJSON_Delete(j);
	char longbody[300];
	memset(longbody, 'x', sizeof longbody);
	auth_audit_add(a, 1, "p", "-", "POST", "/x", longbody, sizeof longbody, 401);
	j = auth_audit_json(a);
	e = cJSON_GetObjectItem(j, "entries");
	last = cJSON_GetArrayItem(e, AUTH_AUDIT_MAX - 1);
	cr_assert_eq(strlen(cJSON_GetObjectItem(last, "summary")->valuestring), AUTH_SUMMARY_MAX);
	cJSON_Delete(j);
	auth_free(a);
}
