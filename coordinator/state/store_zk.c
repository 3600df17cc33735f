#include "state/store_zk.h"

#include "evloop.h"
#include "jtext.h"
#include "log.h"
#include "mac.h"
#include "qm_error.h"
#include "state/ztext.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <mbedtls/sha256.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* The reference's own format; the state it points to carries its own
 * format_version (codec.h). */
#define STORE_ZK_REF_VERSION 1

#define GEN_LEN 37            /* 20 digits '-' 16 hex */
#define REF_MAX 4096          /* a head at most this long may be a reference */
#define MAX_CHUNKS 4096
#define LOAD_ROUNDS 5         /* reads racing with a writer's cleanup */
#define ZMAGIC "QMZ1"         /* head = ZMAGIC + a zlib stream of the text */
#define ZMAGIC_LEN 4
#define RESET_HINT "refusing to use or overwrite it - delete the znode " \
	"(zkCli.sh deleteall) to reset"

struct zk_store {
	struct zk_conn *zk;  /* borrowed: its opener (state_open) closes it */
	char *base;          /* P */
	char *head;          /* P/state */
	char *cdir;          /* P/state-chunks */
	char *where;         /* zk://hosts/P/state, for messages */
	char *fence;
	size_t chunk_bytes;
	bool compress;
	bool paths_ok;       /* P and P/state-chunks exist */
	bool swept;          /* orphaned chunks swept once */
	/* What this handle last read or wrote; valid when known. */
	bool known;
	bool exists;
	uint64_t version;
	int32_t zver;        /* the head znode's version */
	char gen[GEN_LEN + 1]; /* chunk generation of the head, "" = inline */
	uint32_t nchunks;
	struct jtext text;   /* the last save's text: its pages kept for the next */
	struct ev_loop *loop;          /* for asynchronous saves; NULL: none */
	struct zk_pending *pending;    /* the asynchronous save in flight */
};

static const struct store_ops zk_ops;


static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = qm_malloc(n);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static void chunk_path(const struct zk_store *zs, const char *gen, uint32_t i,
		       char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s-%04" PRIu32, zs->cdir, gen, i);
}

/* Message for a failed ZooKeeper answer rc on what. */
static int zk_fail(struct zk_store *zs, int rc, const char *what, char *err,
		   size_t errlen)
{
	if (rc == ZNOAUTH || rc == ZAUTHFAILED)
		return qm_fail(err, errlen, QM_EAUTH,
			    "ZooKeeper refused to %s %s: not authorized (the znode's "
			    "ACL does not admit %s; check user:password in the zk:// URL)",
			    what, zs->where,
			    zk_conn_has_auth(zs->zk) ? "these credentials"
						     : "anonymous access");
	if (zk_rc_uncertain(rc))
		return qm_fail(err, errlen, QM_EIO,
			    "lost the connection to ZooKeeper %s during %s of %s (%s)",
			    zk_conn_ensemble(zs->zk), what, zs->where, zk_strerror(rc));
	return qm_fail(err, errlen, zk_to_qm(rc) == QM_ETIMEDOUT ? QM_ETIMEDOUT : QM_EIO,
		    "ZooKeeper %s: cannot %s %s: %s", zk_conn_ensemble(zs->zk),
		    what, zs->where, zk_strerror(rc));
}

static void free_ops(struct zk_op **ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		zk_op_free(ops[i]);
		ops[i] = NULL;
	}
}

static void forget_op(struct zk_op *op, void *arg)
{
	(void)arg;
	zk_op_free(op);
}

/* Delete paths without waiting for the answers (best effort: whatever is
 * left is swept later). */
static void delete_async(struct zk_store *zs, char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct zk_op *op = zk_op_new(ZK_DELETE, paths[i]);
		op->done = forget_op;
		if (zk_start(zs->zk, op))
			zk_op_free(op);
	}
}

static void delete_gen_async(struct zk_store *zs, const char *gen, uint32_t n)
{
	if (!gen[0] || n == 0)
		return;
	char **paths = qm_calloc(n, sizeof *paths);
	char p[512];
	for (uint32_t i = 0; i < n; i++) {
		chunk_path(zs, gen, i, p, sizeof p);
		paths[i] = qm_strdup(p);
	}
	delete_async(zs, paths, n);
	for (uint32_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/* P's ancestors, P and P/state-chunks, created when missing. Errors on the
 * ancestors are ignored (they may exist, owned by someone else); P's and the
 * chunk directory's are not. */
static int ensure_paths(struct zk_store *zs, char *err, size_t errlen)
{
	if (zs->paths_ok)
		return 0;
	struct zk_op *ops[32];
	size_t n = 0;
	char buf[ZK_PATH_MAX + 1];
	const char *p = zs->base;
	for (const char *c = p + 1; *c && n < 30; c++)
		if (*c == '/') {
			snprintf(buf, sizeof buf, "%.*s", (int)(c - p), p);
			ops[n++] = zk_op_new(ZK_CREATE, buf);
		}
	size_t first = n;
	ops[n++] = zk_op_new(ZK_CREATE, zs->base);
	ops[n++] = zk_op_new(ZK_CREATE, zs->cdir);
	for (size_t i = 0; i < n; i++)
		zk_op_set_data(ops[i], NULL, 0);
	int rv = zk_run(zs->zk, ops, n, err, errlen);
	if (rv)
		return rv;
	for (size_t i = first; i < n && !rv; i++)
		if (ops[i]->rc != ZOK && ops[i]->rc != ZNODEEXISTS)
			rv = zk_fail(zs, ops[i]->rc, "create the parent znodes of",
				     err, errlen);
	free_ops(ops, n);
	if (!rv)
		zs->paths_ok = true;
	return rv;
}

/* ---- reading ---------------------------------------------------------- */

struct ref {
	uint64_t version;
	char gen[GEN_LEN + 1];
	uint32_t chunks;
	uint64_t chunk_bytes;
	uint64_t bytes;      /* stored (after compression) */
	bool zlib;
	uint64_t raw_bytes;  /* the text's length */
	uint8_t sha[MAC_LEN];
};

static bool gen_ok(const char *g)
{
	if (strlen(g) != GEN_LEN || g[20] != '-')
		return false;
	for (int i = 0; i < GEN_LEN; i++) {
		char c = g[i];
		if (i == 20)
			continue;
		if (i < 20 ? !(c >= '0' && c <= '9')
			   : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

static bool num_field(const cJSON *o, const char *k, double max, uint64_t *out)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > max ||
	    x->valuedouble != (double)(uint64_t)x->valuedouble)
		return false;
	*out = (uint64_t)x->valuedouble;
	return true;
}

/* 1 = a reference parsed into *r, 0 = not a reference (a state text), or a
 * negative error with err set. */
static int parse_ref(struct zk_store *zs, const char *buf, size_t len,
		     struct ref *r, char *err, size_t errlen)
{
	if (len > REF_MAX || !memmem(buf, len, STORE_ZK_REF_FORMAT,
				     sizeof STORE_ZK_REF_FORMAT - 1))
		return 0;
	cJSON *o = cJSON_ParseWithLength(buf, len);
	const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "format"));
	if (!o || !fmt || strcmp(fmt, STORE_ZK_REF_FORMAT) != 0) {
		cJSON_Delete(o);
		return 0; /* let the state parser say what is wrong */
	}
	int rv = 1;
	uint64_t fv = 0, chunks = 0;
	const char *gen = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "generation"));
	const char *enc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "encoding"));
	const char *sha = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "sha256"));
	memset(r, 0, sizeof *r);
	if (!num_field(o, "format_version", 1e9, &fv)) {
		rv = qm_fail(err, errlen, QM_ECORRUPT, "state reference %s is corrupt: "
			  "format_version missing; " RESET_HINT, zs->where);
	} else if (fv > STORE_ZK_REF_VERSION) {
		rv = qm_fail(err, errlen, QM_EVERSION, "state reference %s was written "
			  "by a newer coordinator (format_version %" PRIu64 "); "
			  "refusing to use or overwrite it", zs->where, fv);
	} else if (!num_field(o, "version", 9007199254740992.0, &r->version) ||
		   r->version == 0 || !gen || !gen_ok(gen) ||
		   !num_field(o, "chunks", MAX_CHUNKS, &chunks) || chunks == 0 ||
		   !num_field(o, "chunk_bytes", ZK_ZNODE_MAX, &r->chunk_bytes) ||
		   r->chunk_bytes == 0 ||
		   !num_field(o, "bytes", STORE_MAX_BYTES, &r->bytes) ||
		   (r->bytes + r->chunk_bytes - 1) / r->chunk_bytes != chunks ||
		   !sha || strlen(sha) != 2 * MAC_LEN || !enc ||
		   (strcmp(enc, "json") != 0 && strcmp(enc, "zlib") != 0) ||
		   !num_field(o, "raw_bytes", STORE_MAX_BYTES, &r->raw_bytes) ||
		   (strcmp(enc, "json") == 0 && r->raw_bytes != r->bytes)) {
		rv = qm_fail(err, errlen, QM_ECORRUPT, "state reference %s is corrupt "
			  "(a field is missing, out of range or inconsistent); "
			  RESET_HINT, zs->where);
	} else {
		if (mac_hex_decode(sha, r->sha, MAC_LEN) != 0)
			rv = qm_fail(err, errlen, QM_ECORRUPT, "state reference %s "
				  "is corrupt: bad sha256; " RESET_HINT, zs->where);
		snprintf(r->gen, sizeof r->gen, "%s", gen);
		r->chunks = (uint32_t)chunks;
		r->zlib = strcmp(enc, "zlib") == 0;
	}
	cJSON_Delete(o);
	return rv;
}

/* Fetch and check the chunks of *r. 0 with the text in *out (owned), or an
 * error; *again when the head moved on meanwhile (read again). */
static int read_chunks(struct zk_store *zs, const struct ref *r, int32_t zver,
		       char **out, size_t *outlen, bool *again, char *err,
		       size_t errlen)
{
	*out = NULL;
	struct zk_op **ops = qm_calloc(r->chunks, sizeof *ops);
	char p[512];
	for (uint32_t i = 0; i < r->chunks; i++) {
		chunk_path(zs, r->gen, i, p, sizeof p);
		ops[i] = zk_op_new(ZK_GET, p);
	}
	int rv = zk_run(zs->zk, ops, r->chunks, err, errlen);
	if (rv) {
		free(ops);
		return rv;
	}
	char *buf = qm_malloc(r->bytes + 1);
	size_t off = 0;
	for (uint32_t i = 0; i < r->chunks && !rv; i++) {
		struct zk_op *op = ops[i];
		uint64_t want = i + 1 < r->chunks ? r->chunk_bytes
						  : r->bytes - (uint64_t)i * r->chunk_bytes;
		if (op->rc == ZNONODE) {
			/* Gone: the head moved on and the writer deleted the old
			 * chunks (read again), or the state is damaged. */
			struct zk_op *h = zk_op_new(ZK_EXISTS, zs->head);
			rv = zk_run(zs->zk, &h, 1, err, errlen);
			if (!rv && h->rc == ZOK && h->stat.version != zver)
				*again = true;
			if (!rv)
				rv = qm_fail(err, errlen, QM_ECORRUPT,
					  "state %s is corrupt: chunk %s is missing; "
					  RESET_HINT, zs->where, op->path);
			zk_op_free(h);
		} else if (op->rc != ZOK) {
			rv = zk_fail(zs, op->rc, "read a chunk of", err, errlen);
		} else if (op->len != want) {
			rv = qm_fail(err, errlen, QM_ECORRUPT,
				  "state %s is corrupt: chunk %s has %zu bytes, the "
				  "reference says %" PRIu64 "; " RESET_HINT, zs->where,
				  op->path, op->len, want);
		} else {
			memcpy(buf + off, op->data, op->len);
			off += op->len;
		}
	}
	free_ops(ops, r->chunks);
	free(ops);
	if (!rv) {
		uint8_t sha[MAC_LEN];
		mbedtls_sha256_ret((const unsigned char *)buf, off, sha, 0);
		if (memcmp(sha, r->sha, sizeof sha) != 0)
			rv = qm_fail(err, errlen, QM_ECORRUPT,
				  "state %s is corrupt: the chunks of generation %s do "
				  "not match the reference's sha256; " RESET_HINT,
				  zs->where, r->gen);
	}
	if (rv) {
		free(buf);
		return rv;
	}
	buf[off] = '\0';
	*out = buf;
	*outlen = off;
	return 0;
}

/* Remove chunks that no head can ever point at again: of a version at or
 * below the current one and not the current generation. */
static void sweep(struct zk_store *zs)
{
	struct zk_op *op = zk_op_new(ZK_CHILDREN, zs->cdir);
	char err[256];
	if (zk_run(zs->zk, &op, 1, err, sizeof err))
		return;
	char **paths = qm_calloc(op->nchildren + 1, sizeof *paths);
	size_t n = 0;
	for (size_t i = 0; i < op->nchildren; i++) {
		const char *c = op->children[i];
		char gen[GEN_LEN + 1];
		if (strlen(c) != GEN_LEN + 5 || c[GEN_LEN] != '-')
			continue;
		memcpy(gen, c, GEN_LEN);
		gen[GEN_LEN] = '\0';
		if (!gen_ok(gen) || strcmp(gen, zs->gen) == 0)
			continue;
		uint64_t v = strtoull(gen, NULL, 10);
		if (v > zs->version)
			continue; /* maybe a save in progress */
		paths[n++] = join(zs->cdir, c);
	}
	if (n)
		log_info("store_zk_sweep", "location=%s orphaned_chunks=%zu",
			 log_qs(zs->where), n);
	delete_async(zs, paths, n);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	zk_op_free(op);
}

static int load_once(struct zk_store *zs, struct store_state *out,
		     uint64_t *version, bool *again, char *err, size_t errlen)
{
	struct zk_op *op = zk_op_new(ZK_GET, zs->head);
	int rv = zk_run(zs->zk, &op, 1, err, errlen);
	if (rv)
		return rv;
	if (op->rc == ZNONODE) {
		zk_op_free(op);
		zs->known = true;
		zs->exists = false;
		zs->version = 0;
		zs->zver = -1;
		zs->gen[0] = '\0';
		zs->nchunks = 0;
		return 0;
	}
	if (op->rc != ZOK) {
		rv = zk_fail(zs, op->rc, "read", err, errlen);
		zk_op_free(op);
		return rv;
	}
	int32_t zver = op->stat.version;
	struct ref r;
	char why[256];
	char *text = NULL;
	size_t len = 0;
	bool zlib = false;
	memset(&r, 0, sizeof r);
	if (op->len >= ZMAGIC_LEN && memcmp(op->data, ZMAGIC, ZMAGIC_LEN) == 0) {
		/* compressed, in the head itself */
		text = qm_malloc(op->len - ZMAGIC_LEN + 1);
		memcpy(text, op->data + ZMAGIC_LEN, op->len - ZMAGIC_LEN);
		len = op->len - ZMAGIC_LEN;
		zlib = true;
		rv = 0;
	} else if ((rv = parse_ref(zs, op->data, op->len, &r, err, errlen)) == 1) {
		rv = read_chunks(zs, &r, zver, &text, &len, again, err, errlen);
		zlib = r.zlib;
	} else if (rv == 0) {
		text = op->data;
		len = op->len;
		op->data = NULL;
	}
	zk_op_free(op);
	if (rv)
		return rv;
	if (zlib) {
		char *plain;
		size_t plen;
		rv = ztext_inflate(text, len, STORE_MAX_BYTES, &plain, &plen, why, sizeof why);
		free(text);
		if (rv)
			return qm_fail(err, errlen, rv, "state %s is corrupt: %s; "
				    RESET_HINT, zs->where, why);
		if (r.chunks && plen != r.raw_bytes)
			return qm_fail(err, errlen, QM_ECORRUPT, "state %s is corrupt: "
				    "it inflates to %zu bytes, the reference says %"
				    PRIu64 "; " RESET_HINT, zs->where, plen,
				    r.raw_bytes);
		text = plain;
		len = plen;
	}
	rv = store_state_from_json(text, len, out, version, why, sizeof why);
	free(text);
	if (rv == QM_EVERSION)
		return qm_fail(err, errlen, rv, "state %s was %s; refusing to use or "
			    "overwrite it", zs->where, why);
	if (rv)
		return qm_fail(err, errlen, rv, "state %s is corrupt: %s; " RESET_HINT,
			    zs->where, why);
	if (r.chunks && *version != r.version)
		return qm_fail(err, errlen, QM_ECORRUPT, "state %s is corrupt: the "
			    "chunks hold version %" PRIu64 ", the reference says %"
			    PRIu64 "; " RESET_HINT, zs->where, *version, r.version);
	zs->known = true;
	zs->exists = true;
	zs->version = *version;
	zs->zver = zver;
	snprintf(zs->gen, sizeof zs->gen, "%s", r.gen);
	zs->nchunks = r.chunks;
	return 0;
}

static int zs_load(void *impl, struct store_state *out, uint64_t *version,
		   char *err, size_t errlen)
{
	struct zk_store *zs = impl;
	int rv = 0;
	for (int round = 0; round < LOAD_ROUNDS; round++) {
		bool again = false;
		store_state_init(out);
		*version = 0;
		zs->known = false;
		rv = load_once(zs, out, version, &again, err, errlen);
		if (!rv || !again)
			break;
		store_state_fini(out);
	}
	if (rv) {
		store_state_fini(out);
		*version = 0;
		return rv;
	}
	if (!zs->swept) {
		zs->swept = true;
		sweep(zs);
	}
	return 0;
}

/* ---- writing ---------------------------------------------------------- */

static void new_gen(uint64_t version, char *out, size_t cap)
{
	uint64_t nonce = 0;
	if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		nonce = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^
			((uint64_t)(uintptr_t)out << 7);
	}
	snprintf(out, cap, "%020" PRIu64 "-%016" PRIx64, version, nonce);
}

/* Write text as chunks of a new generation (for version). 0 or an error;
 * on error the chunks that were written are deleted again. */
static int write_chunks(struct zk_store *zs, const char *text, size_t len,
			uint64_t version, char *gen, uint32_t *nchunks,
			char *err, size_t errlen)
{
	size_t cb = zs->chunk_bytes;
	uint32_t n = (uint32_t)((len + cb - 1) / cb);
	if (n > MAX_CHUNKS)
		return qm_fail(err, errlen, QM_ETOOBIG, "state of %zu bytes needs more "
			    "than %d chunks", len, MAX_CHUNKS);
	new_gen(version, gen, GEN_LEN + 1);
	struct zk_op **ops = qm_calloc(n, sizeof *ops);
	char p[512];
	for (uint32_t i = 0; i < n; i++) {
		chunk_path(zs, gen, i, p, sizeof p);
		ops[i] = zk_op_new(ZK_CREATE, p);
		size_t off = (size_t)i * cb;
		zk_op_set_data(ops[i], text + off, len - off < cb ? len - off : cb);
	}
	int rv = zk_run(zs->zk, ops, n, err, errlen);
	if (rv) {
		free(ops);
		return rv; /* unknown which exist: the sweep takes them */
	}
	char **made = qm_calloc(n, sizeof *made);
	size_t nmade = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (ops[i]->rc == ZOK)
			made[nmade++] = qm_strdup(ops[i]->path);
		else if (!rv)
			rv = zk_fail(zs, ops[i]->rc, "write a chunk of", err, errlen);
		if (ops[i]->rc == ZNONODE)
			zs->paths_ok = false; /* someone removed the directory */
	}
	if (rv)
		delete_async(zs, made, nmade);
	for (size_t i = 0; i < nmade; i++)
		free(made[i]);
	free(made);
	free_ops(ops, n);
	free(ops);
	*nchunks = n;
	return rv;
}

static char *ref_text(const struct zk_store *zs, uint64_t version,
		      const char *gen, uint32_t nchunks, const char *text,
		      size_t len, bool zlib, size_t raw_len)
{
	uint8_t sha[MAC_LEN];
	char hex[2 * MAC_LEN + 1];
	mbedtls_sha256_ret((const unsigned char *)text, len, sha, 0);
	mac_hex_encode(sha, sizeof sha, hex);
	size_t cap = 512;
	char *out = qm_malloc(cap);
	snprintf(out, cap,
		 "{\"format\":\"%s\",\"format_version\":%d,\"version\":%" PRIu64
		 ",\"generation\":\"%s\",\"chunks\":%" PRIu32
		 ",\"chunk_bytes\":%zu,\"bytes\":%zu,\"encoding\":\"%s\""
		 ",\"raw_bytes\":%zu,\"sha256\":\"%s\"}\n",
		 STORE_ZK_REF_FORMAT, STORE_ZK_REF_VERSION, version, gen, nchunks,
		 zs->chunk_bytes, len, zlib ? "zlib" : "json", raw_len, hex);
	return out;
}

/* Does a text of len bytes go through zlib before it is stored? */
static bool wants_deflate(const struct zk_store *zs, size_t len)
{
	return zs->compress && (len > zs->chunk_bytes || len > STORE_ZK_PLAIN_MAX);
}

/* ZMAGIC + the zlib stream of text[0..len): *zlen gets the stream's
 * length (without the magic). Pure: runs on any thread. */
static char *deflate_text(const char *text, size_t len, size_t *zlen)
{
	char *z = ztext_deflate(text, len, ZMAGIC_LEN, zlen);
	memcpy(z, ZMAGIC, ZMAGIC_LEN);
	return z;
}

/* What the head znode gets for text[0..len): the text itself (small
 * states stay plain JSON, readable with zkCli.sh), z (deflate_text of the
 * text, given when wants_deflate: the text compresses ~25:1), or a
 * reference to chunks written here under a new generation *gen
 * (*nchunks) when even that does not fit one znode. z is taken (freed
 * here unless it is the head). 0 with *head (== text, or owned by the
 * caller), or an error. */
static int encode_head(struct zk_store *zs, const char *text, size_t len, char *z,
		       size_t zlen, char **head, size_t *hlen, char *gen,
		       uint32_t *nchunks, char *err, size_t errlen)
{
	*head = (char *)text;
	*hlen = len;
	if (!z && len <= zs->chunk_bytes)
		return 0;
	if (z && zlen + ZMAGIC_LEN <= zs->chunk_bytes) {
		*head = z;
		*hlen = zlen + ZMAGIC_LEN;
		return 0;
	}
	const char *body = z ? z + ZMAGIC_LEN : text;
	size_t blen = z ? zlen : len;
	int rv = write_chunks(zs, body, blen, zs->version + 1, gen, nchunks, err,
			      errlen);
	if (!rv) {
		*head = ref_text(zs, zs->version + 1, gen, *nchunks, body, blen,
				 z != NULL, len);
		*hlen = strlen(*head);
	}
	free(z);
	return rv;
}

/* The head write was answered with rc: account for it. */
static int save_answered(struct zk_store *zs, const struct zk_op *op,
			 const char *gen, uint32_t nchunks,
			 uint64_t *new_version, char *err, size_t errlen)
{
	int rc = op->rc;
	if (rc == ZOK) {
		char old[GEN_LEN + 1];
		snprintf(old, sizeof old, "%s", zs->gen);
		uint32_t oldn = zs->nchunks;
		zs->known = true;
		zs->exists = true;
		zs->version++;
		zs->zver = op->type == ZK_SET ? op->stat.version : 0;
		snprintf(zs->gen, sizeof zs->gen, "%s", gen);
		zs->nchunks = nchunks;
		*new_version = zs->version;
		delete_gen_async(zs, old, oldn);
		return 0;
	}
	if (zk_rc_uncertain(rc)) {
		zs->known = false;
		zs->swept = false;
		return qm_fail(err, errlen, QM_EIO, "lost the connection to ZooKeeper "
			    "%s while saving %s (%s): the outcome is unknown; the "
			    "next save reads the state first", zk_conn_ensemble(zs->zk),
			    zs->where, zk_strerror(rc));
	}
	/* Definitely not written: our chunks are garbage now. */
	delete_gen_async(zs, gen, nchunks);
	if (rc == ZNONODE)
		zs->paths_ok = false;
	if (op->fence_failed)
		return qm_fail(err, errlen, QM_ECONFLICT, "not saved to %s: this "
			    "coordinator is no longer the leader (its election znode "
			    "%s is gone); state unchanged", zs->where, zs->fence);
	if (rc == ZBADVERSION || rc == ZNODEEXISTS || rc == ZNONODE) {
		zs->known = false;
		return qm_fail(err, errlen, QM_ECONFLICT, "state %s was changed by "
			    "someone else since this coordinator last read it "
			    "(another coordinator?); state unchanged", zs->where);
	}
	return zk_fail(zs, rc, "write", err, errlen);
}

static bool zs_known(void *impl)
{
	const struct zk_store *zs = impl;
	return zs->known;
}

/* The first half of a save, on the owner thread: the state's text for
 * the next version in zs->text (and the paths it goes to). 0 or an
 * error. */
static int save_text(struct zk_store *zs, const struct store_state *s, uint64_t expected,
		     char *err, size_t errlen)
{
	/* zs->known: store_save() loads first when it is not. */
	if (expected != zs->version)
		return qm_fail(err, errlen, QM_ECONFLICT,
			    "stale state version: expected %" PRIu64 ", %s is at %"
			    PRIu64, expected, zs->where, zs->version);
	int rv = store_state_to_jtext(s, zs->version + 1, 0, &zs->text);
	if (rv)
		return qm_fail(err, errlen, rv, "state would be larger than the %u MiB "
			    "cap", STORE_MAX_BYTES >> 20);
	return ensure_paths(zs, err, errlen);
}

/* The second half: *opp is the head write for text (zs->text) and z
 * (deflate_text of it when wants_deflate, else NULL; taken), ready to
 * send; its chunks, if any, are written already under gen. 0 or an
 * error. */
static int save_head(struct zk_store *zs, const char *text, size_t len, char *z, size_t zlen,
		     struct zk_op **opp, char *gen, uint32_t *nchunks, char *err,
		     size_t errlen)
{
	*opp = NULL;
	char *head = NULL;
	size_t hlen = 0;
	int rv = encode_head(zs, text, len, z, zlen, &head, &hlen, gen, nchunks, err,
			     errlen);
	if (rv)
		return rv;
	struct zk_op *op = zk_op_new(zs->exists ? ZK_SET : ZK_CREATE, zs->head);
	zk_op_set_data(op, head, hlen);
	if (zs->exists)
		op->version = zs->zver;
	if (zs->fence)
		zk_op_set_fence(op, zs->fence);
	if (head != text)
		free(head);
	*opp = op;
	return 0;
}

/* A whole save up to the head write, on the caller's thread. */
static int save_prepare(struct zk_store *zs, const struct store_state *s, uint64_t expected,
			struct zk_op **opp, char *gen, uint32_t *nchunks, char *err,
			size_t errlen)
{
	*opp = NULL;
	gen[0] = '\0';
	*nchunks = 0;
	int rv = save_text(zs, s, expected, err, errlen);
	if (rv)
		return rv;
	const char *text = zs->text.buf;
	size_t len = zs->text.len, zlen = 0;
	char *z = wants_deflate(zs, len) ? deflate_text(text, len, &zlen) : NULL;
	return save_head(zs, text, len, z, zlen, opp, gen, nchunks, err, errlen);
}

/* The head write could not be sent or was not answered in time. */
static int save_unknown(struct zk_store *zs, int rv, char *err, size_t errlen)
{
	/* Unknown whether the head moved: read it before the next save; our
	 * new chunks, if unreferenced, are swept later. */
	zs->known = false;
	zs->swept = false;
	size_t l = err && errlen ? strlen(err) : 0;
	if (err && l + 1 < errlen)
		snprintf(err + l, errlen - l, " - whether %s was saved is "
			 "unknown; the next save reads it first", zs->where);
	return rv;
}

static int zs_save(void *impl, const struct store_state *s, uint64_t expected,
		   uint64_t *new_version, char *err, size_t errlen)
{
	struct zk_store *zs = impl;
	struct zk_op *op;
	char gen[GEN_LEN + 1];
	uint32_t nchunks;
	int rv = save_prepare(zs, s, expected, &op, gen, &nchunks, err, errlen);
	if (rv)
		return rv;
	rv = zk_run(zs->zk, &op, 1, err, errlen);
	if (rv)
		return save_unknown(zs, rv, err, errlen);
	rv = save_answered(zs, op, gen, nchunks, new_version, err, errlen);
	zk_op_free(op);
	return rv;
}

/* ---- asynchronous saves ---------------------------------------------- */

/* The save in flight. Its text is compressed on a thread of its own (at
 * 10,000 agents ~10 ms of zlib for 5.5 MB, which had sat on the loop with
 * every save), then its head write is sent from the owner thread and
 * answered on a client thread; the outcome is delivered (save_answered,
 * then done) on the loop: by the work posted with the answer, or earlier
 * by zs_settle. refs: the delivery's and each posted work's (the
 * compression's and the answer's), all counted on the owner thread. */
struct zk_pending {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool answered;
	int refs;
	struct zk_store *zs; /* NULL once delivered */
	struct ev_loop *loop;
	struct zk_op *op;    /* the head write, once sent */
	char gen[GEN_LEN + 1];
	uint32_t nchunks;
	store_done_fn done;
	void *arg;
	/* while compressing: the thread, the text it reads (zs->text, left
	 * alone while a save is in flight), what it makes */
	bool deflating;
	pthread_t th;
	const char *text;
	size_t len;
	char *z;
	size_t zlen;
};

static void pending_unref(struct zk_pending *p)
{
	if (--p->refs > 0)
		return;
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static void finish(struct zk_pending *p, int rv, uint64_t nv, const char *err)
{
	p->zs->pending = NULL;
	p->zs = NULL;
	store_done_fn done = p->done;
	void *arg = p->arg;
	pending_unref(p);
	done(arg, rv, nv, err);
}

static void deliver(struct zk_pending *p)
{
	char err[512] = "";
	uint64_t nv = 0;
	int rv = save_answered(p->zs, p->op, p->gen, p->nchunks, &nv, err, sizeof err);
	zk_op_free(p->op);
	p->op = NULL;
	finish(p, rv, nv, err);
}

static void pending_posted(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct zk_pending *p = arg;
	if (p->zs)
		deliver(p);
	pending_unref(p);
}

/* On a client thread (or the owner's, inside zk_conn_close): only hand
 * over. */
static void head_answered(struct zk_op *op, void *arg)
{
	(void)op;
	struct zk_pending *p = arg;
	struct ev_loop *loop = p->loop; /* p lives until the posted work ran */
	pthread_mutex_lock(&p->mu);
	p->answered = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	ev_post(loop, pending_posted, p);
}

/* Send the head write for text and z (taken). 0: in flight, or an error
 * (the head is as it was; the new chunks are being deleted). */
static int send_head(struct zk_pending *p, const char *text, size_t len, char *z, size_t zlen,
		     char *err, size_t errlen)
{
	struct zk_store *zs = p->zs;
	struct zk_op *op;
	int rv = save_head(zs, text, len, z, zlen, &op, p->gen, &p->nchunks, err, errlen);
	if (rv)
		return rv;
	op->done = head_answered;
	op->arg = p;
	rv = zk_start(zs->zk, op);
	if (rv) {
		/* never sent: no answer comes, the head is as it was */
		delete_gen_async(zs, p->gen, p->nchunks);
		zk_op_free(op);
		return qm_fail(err, errlen, QM_EIO, "cannot send the save of %s to ZooKeeper "
			    "%s (%s); state unchanged", zs->where, zk_conn_ensemble(zs->zk),
			    qm_strerror(rv));
	}
	p->op = op;
	p->refs++; /* head_answered's posted work */
	return 0;
}

/* The compression is done (or is waited for here): send the head write,
 * or answer the save with why it could not be. true while it is in
 * flight. Owner thread. */
static bool deflated(struct zk_pending *p)
{
	pthread_join(p->th, NULL);
	p->deflating = false;
	char err[512] = "";
	int rv = send_head(p, p->text, p->len, p->z, p->zlen, err, sizeof err);
	p->text = NULL;
	p->z = NULL;
	if (rv)
		finish(p, rv, 0, err);
	return rv == 0;
}

static void deflated_posted(struct ev_loop *loop, void *arg)
{
	(void)loop;
	struct zk_pending *p = arg;
	if (p->zs && p->deflating)
		(void)deflated(p);
	pending_unref(p);
}

/* The save's own thread: compress, then hand back to the loop. */
static void *deflate_main(void *arg)
{
	struct zk_pending *p = arg;
	p->z = deflate_text(p->text, p->len, &p->zlen);
	ev_post(p->loop, deflated_posted, p);
	return NULL;
}

static void zs_settle(void *impl)
{
	struct zk_store *zs = impl;
	struct zk_pending *p = zs->pending;
	if (!p)
		return;
	if (p->deflating && !deflated(p))
		return; /* answered: the head write could not be sent */
	/* The client answers every request it sent: at the latest with a
	 * connection loss, within the session timeout. */
	pthread_mutex_lock(&p->mu);
	while (!p->answered)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	deliver(p);
}

static bool zs_saves_async(void *impl)
{
	const struct zk_store *zs = impl;
	return zs->loop != NULL;
}

/* store.c has settled the save in flight, if any. */
static int zs_save_start(void *impl, const struct store_state *s, uint64_t expected,
			 store_done_fn done, void *arg, char *err, size_t errlen)
{
	struct zk_store *zs = impl;
	if (!zs->loop)
		return qm_fail(err, errlen, QM_EINVAL, "no loop for asynchronous saves to %s",
			    zs->where);
	if (zk_conn_state(zs->zk) != ZOO_CONNECTED_STATE)
		/* a synchronous save waits for the session; the caller does that */
		return qm_fail(err, errlen, QM_EAGAIN, "ZooKeeper %s is not connected",
			    zk_conn_ensemble(zs->zk));
	int rv = save_text(zs, s, expected, err, errlen);
	if (rv)
		return rv;
	const char *text = zs->text.buf;
	size_t len = zs->text.len;
	struct zk_pending *p = qm_calloc(1, sizeof *p);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->refs = 1; /* the delivery's */
	p->zs = zs;
	p->loop = zs->loop;
	p->done = done;
	p->arg = arg;
	if (wants_deflate(zs, len)) {
		p->text = text;
		p->len = len;
		p->deflating = true;
		p->refs++; /* deflated_posted's */
		if (pthread_create(&p->th, NULL, deflate_main, p) == 0) {
			zs->pending = p;
			return 0;
		}
		p->refs--;
		p->deflating = false; /* no thread: compressed here */
		p->text = NULL;
	}
	char *z = NULL;
	size_t zlen = 0;
	if (wants_deflate(zs, len))
		z = deflate_text(text, len, &zlen);
	rv = send_head(p, text, len, z, zlen, err, errlen);
	if (rv) {
		pending_unref(p);
		return rv;
	}
	zs->pending = p;
	return 0;
}

static void zs_close(void *impl)
{
	struct zk_store *zs = impl;
	if (!zs)
		return;
	free(zs->base);
	free(zs->head);
	free(zs->cdir);
	free(zs->where);
	free(zs->fence);
	free(zs->text.buf);
	free(zs);
}

static const struct store_ops zk_ops = {
	.name = "zk",
	.load = zs_load,
	.known = zs_known,
	.save = zs_save,
	.close = zs_close,
	.saves_async = zs_saves_async,
	.save_start = zs_save_start,
	.settle = zs_settle,
};

struct store *store_zk_new(struct zk_conn *conn)
{
	struct zk_store *zs = qm_calloc(1, sizeof *zs);
	zs->zk = conn;
	zs->base = qm_strdup(zk_conn_path(conn));
	zs->head = join(zs->base, STORE_ZK_HEAD);
	zs->cdir = join(zs->base, STORE_ZK_CHUNKS);
	zs->where = join(zk_conn_display(conn), STORE_ZK_HEAD);
	zs->chunk_bytes = STORE_ZK_CHUNK_BYTES;
	zs->compress = true;
	zs->zver = -1;
	return store_new(&zk_ops, zs, zk_conn_display(conn));
}

int store_zk_set_loop(struct store *st, struct ev_loop *loop)
{
	struct zk_store *zs = store_impl(st, &zk_ops);
	if (!zs)
		return QM_EINVAL;
	zs_settle(zs);
	zs->loop = loop;
	return 0;
}

int store_zk_set_fence(struct store *st, const char *znode)
{
	struct zk_store *zs = store_impl(st, &zk_ops);
	if (!zs)
		return QM_EINVAL;
	free(zs->fence);
	zs->fence = qm_strdup_or_null(znode);
	return 0;
}

int store_zk_set_chunk_bytes(struct store *st, size_t n)
{
	struct zk_store *zs = store_impl(st, &zk_ops);
	if (!zs)
		return QM_EINVAL;
	zs->chunk_bytes = n < 64 ? 64 : n > ZK_ZNODE_MAX ? ZK_ZNODE_MAX : n;
	return 0;
}

int store_zk_set_compress(struct store *st, bool on)
{
	struct zk_store *zs = store_impl(st, &zk_ops);
	if (!zs)
		return QM_EINVAL;
	zs->compress = on;
	return 0;
}
