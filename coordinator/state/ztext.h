/* Text through zlib (deflate): how the ZooKeeper store (store_zk.h) keeps
 * large states small. Pure; out of memory aborts (qm_oom). */
#ifndef QM_STATE_ZTEXT_H
#define QM_STATE_ZTEXT_H

#include <stddef.h>

/* The zlib stream of text[0..len), placed after prefix bytes of room the
 * caller fills (e.g. a magic). Returns the buffer (prefix + *outlen bytes,
 * owned by the caller: free()); *outlen is the stream's length. */
char *ztext_deflate(const char *text, size_t len, size_t prefix,
		    size_t *outlen);

/* Inflate one zlib stream z[0..zlen) into at most max bytes of text; the
 * stream must end exactly at the end of the input. 0 with *out
 * (NUL-terminated, owned by the caller) and *outlen, or QM_ETOOBIG (more
 * than max) or QM_ECORRUPT (damaged, truncated or trailing bytes) with the
 * reason in why. */
int ztext_inflate(const char *z, size_t zlen, size_t max, char **out,
		  size_t *outlen, char *why, size_t whylen);

#endif
