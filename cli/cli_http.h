/* The operator CLI's HTTP client: one blocking request to the
 * coordinator's REST API through libcurl's easy interface (a one-shot
 * command has no loop to drive the multi interface from). Never a shell,
 * never a redirect, only http:// and https://, the answer capped at
 * CLI_HTTP_BODY_MAX. Not thread-safe: call cli_http_global_init() once
 * from main first. */
#ifndef QM_CLI_HTTP_H
#define QM_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define CLI_HTTP_BODY_MAX  (16u << 20) /* bytes of an answer we accept */
#define CLI_TOKEN_MAX      256         /* the coordinator's AUTH_TOKEN_MAX */
#define CLI_TOKEN_FILE_MAX (64u << 10) /* the coordinator's AUTH_FILE_MAX */

struct cli_http_opts {
	const char *url;      /* base, e.g. http://127.0.0.1:7000 (a trailing '/' is fine) */
	const char *token;    /* sent as "Authorization: Bearer TOKEN"; NULL for none */
	const char *ca;       /* CA bundle (PEM) for https; NULL: the system's */
	bool insecure;        /* https without verifying the server */
	long long timeout_ms; /* the whole request, connection included */
};

struct cli_http_resp {
	long status; /* the HTTP status */
	char *body;  /* NUL-terminated (also when empty); owned, cli_http_resp_fini() */
	size_t len;  /* bytes of body without the terminator */
};

/* Process-wide libcurl set-up. 0 or QM_EIO. */
int cli_http_global_init(void);
void cli_http_global_fini(void);

/* METHOD base-url + path (path starts with '/', already URL-encoded),
 * with body/body_len (may be NULL/0) sent as ctype (NULL: none). Blocks up
 * to o->timeout_ms. Returns 0 when an HTTP answer arrived, whatever its
 * status, with *out filled; else, with a one-line reason in err:
 *   QM_EIO       the coordinator could not be reached (connection, DNS,
 *                TLS, a broken answer);
 *   QM_ETIMEDOUT no complete answer within the timeout;
 *   QM_ETOOBIG   the answer is larger than CLI_HTTP_BODY_MAX;
 *   QM_EINVAL    a bad option (URL, token).
 * *out is zeroed first and owns nothing on failure. */
int cli_http_call(const struct cli_http_opts *o, const char *method, const char *path,
		  const char *ctype, const char *body, size_t body_len, struct cli_http_resp *out,
		  char *err, size_t errlen);
void cli_http_resp_fini(struct cli_http_resp *r);

/* s percent-encoded as one path segment (everything but RFC 3986
 * unreserved characters). Owned by the caller (free()); never NULL. */
char *cli_http_segment(const char *s);

/* The token of a token file's text: the first entry line (blank lines and
 * '#' comments skipped) holding either one bare token or, in the
 * coordinator's --api-token-file format "NAME ROLE TOKEN", the first entry
 * whose ROLE is admin (else the first entry). The token is copied into tok
 * (cap bytes). 0, or QM_EINVAL with err (the token is never quoted). */
int cli_token_parse(const char *text, size_t len, char *tok, size_t cap, char *err, size_t errlen);

/* cli_token_parse() of the file at path (regular, at most
 * CLI_TOKEN_FILE_MAX bytes). 0, QM_EIO or QM_EINVAL with err. */
int cli_token_load(const char *path, char *tok, size_t cap, char *err, size_t errlen);

/* True if tok may go into an Authorization header: 1..CLI_TOKEN_MAX
 * printable ASCII characters without blanks. */
bool cli_token_valid(const char *tok);

#endif
