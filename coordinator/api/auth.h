/* Who may call the REST API: API tokens with roles, the checks of one
 * request, failed-attempt limiting per peer, and the audit trail of
 * mutating calls. No I/O but auth_tokens_load() (one file read); the HTTP
 * server (http.c) asks auth_check() after routing, before it reads a body,
 * and reports every mutating call to auth_audit_add() once answered.
 *
 * Token file (--api-token-file): one entry per line, "NAME ROLE TOKEN";
 * ROLE is "admin" (everything) or "read" (GET only). A file holding one bare
 * token on its only entry line is one admin token named "admin". Blank lines
 * and lines starting with '#' are skipped. NAME: 1..63 of [A-Za-z0-9._-];
 * TOKEN: 32..256 printable ASCII characters without blanks; names unique.
 * The file must be a regular file that neither group nor others may read or
 * write (as ssh does with keys), at most 64 KiB.
 *
 * Checks (auth_check), in order:
 *  - a request that needs no credential passes: with no token configured,
 *    everything (the coordinator refuses to start so on a non-loopback
 *    listener unless --http-insecure); public routes always; reads unless
 *    auth_read is set;
 *  - a peer with AUTH_FAIL_LIMIT failed attempts within AUTH_FAIL_WINDOW_MS
 *    gets 429 until AUTH_BLOCK_MS after the last of them (for what needs a
 *    credential only);
 *  - an Authorization header longer than AUTH_HEADER_MAX: 400;
 *  - mutating calls take "Bearer TOKEN" only; reads also "Basic" with any
 *    user name and the token as password (what a browser sends). Anything
 *    else, a missing header or a token that matches none: 401 (the same
 *    answer whatever was wrong), counted as a failed attempt of the peer;
 *  - a mutating call whose Origin header is not http(s)://<its Host>: 403
 *    (a browser page of another origin cannot post here);
 *  - a read token on a mutating or admin-only call: 403.
 * Tokens are compared in constant time, against every entry (no early
 * exit); a token with control characters never matches. */
#ifndef QM_AUTH_H
#define QM_AUTH_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_TOKEN_MIN 32
#define AUTH_TOKEN_MAX 256
#define AUTH_NAME_MAX 63
#define AUTH_FILE_MAX (64u << 10)
#define AUTH_HEADER_MAX 1024
#define AUTH_FAIL_LIMIT 10
#define AUTH_FAIL_WINDOW_MS 60000u
#define AUTH_BLOCK_MS 60000u
#define AUTH_PEERS_MAX 512       /* peers whose failures are remembered */
#define AUTH_AUDIT_MAX 1000      /* audit entries kept */
#define AUTH_SUMMARY_MAX 80      /* body characters an audit entry keeps */

enum auth_role { AUTH_ROLE_READ = 1, AUTH_ROLE_ADMIN = 2 };

/* What a route needs. Values chosen so that the routes' former bool
 * needs_auth (false = a read, true = a mutating call) keeps its meaning. */
enum auth_access {
	AUTH_ACCESS_READ = 0,    /* a GET: a credential only with auth_read */
	AUTH_ACCESS_ADMIN = 1,   /* mutating or admin-only: an admin token */
	AUTH_ACCESS_PUBLIC = 2,  /* never a credential (health, the fetcher) */
};

struct auth_token {
	char name[AUTH_NAME_MAX + 1];
	enum auth_role role;
	char token[AUTH_TOKEN_MAX + 1];
	size_t len;
};

struct auth_tokens {
	struct auth_token *v;
	size_t n;
};

/* Parse token file text. 0 and *out (free with auth_tokens_free), or
 * QM_EINVAL with a message naming the line in err (the token itself is
 * never quoted). */
int auth_tokens_parse(const char *text, size_t len, struct auth_tokens *out, char *err,
		      size_t errlen);
/* Read and parse the file at path, refusing one that is not a regular
 * file, is readable or writable by group or others, is empty of entries or
 * too big. 0, or QM_EINVAL/QM_EIO with the reason in err. */
int auth_tokens_load(const char *path, struct auth_tokens *out, char *err, size_t errlen);
/* One admin token named "api-token" from a string (--api-token). */
int auth_tokens_single(const char *token, struct auth_tokens *out, char *err, size_t errlen);
void auth_tokens_free(struct auth_tokens *t);

struct auth;

struct auth *auth_new(void);
void auth_free(struct auth *a);
/* Replace the tokens (taking them over; *t is left empty). */
void auth_set_tokens(struct auth *a, struct auth_tokens *t);
size_t auth_ntokens(const struct auth *a);
/* GET routes of AUTH_ACCESS_READ need a read or admin token too. */
void auth_set_read_auth(struct auth *a, bool on);
bool auth_read_auth(const struct auth *a);

struct auth_request {
	enum auth_access access;
	bool mutating;             /* not GET/HEAD: Bearer only, Origin checked */
	const char *peer;          /* "ip:port" or "[v6]:port" */
	const char *authorization; /* header value or NULL */
	const char *origin;        /* header value or NULL */
	const char *host;          /* header value or NULL */
	uint64_t now_ms;           /* a monotonic clock */
};

struct auth_result {
	int status;            /* 0 = allowed, else 400/401/403/429 */
	const char *who;       /* the token's name, "-" when none was used */
	const char *reason;    /* for logs; never holds the token */
};

void auth_check(struct auth *a, const struct auth_request *r, struct auth_result *res);

struct auth_stats {
	uint64_t failures;      /* 401s counted against peers */
	uint64_t forbidden;     /* 403s */
	uint64_t limited;       /* 429s */
	uint64_t audited;       /* audit entries ever written */
};
void auth_stats(const struct auth *a, struct auth_stats *out);

/* One mutating call, answered with status: kept in a ring of the last
 * AUTH_AUDIT_MAX, logged by the caller. summary: the body's first
 * AUTH_SUMMARY_MAX characters, each byte outside printable ASCII shown as
 * '.'. */
void auth_audit_add(struct auth *a, uint64_t unix_ms, const char *peer, const char *who,
		    const char *method, const char *path, const char *body, size_t body_len,
		    int status);
/* {"entries":[{"time_unix_ms","peer","token","method","path","summary",
 * "status"}...]}, oldest first. */
cJSON *auth_audit_json(const struct auth *a);

#endif
