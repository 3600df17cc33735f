/* SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104), written here so the bus
 * needs no TLS library for message authentication. Pure functions. */
#ifndef QM_CRYPTO_H
#define QM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32

struct crypto_sha256 {
	uint32_t h[8];
	uint64_t total;
	uint8_t buf[64];
	size_t buflen;
};

void crypto_sha256_init(struct crypto_sha256 *c);
void crypto_sha256_update(struct crypto_sha256 *c, const void *data, size_t len);
/* Writes the digest and wipes *c (it may have held key material). */
void crypto_sha256_final(struct crypto_sha256 *c, uint8_t out[CRYPTO_SHA256_LEN]);
void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN]);

/* HMAC-SHA256 over the concatenation of n (ptr,len) parts. Any key length
 * (longer than 64 bytes is hashed first, per RFC 2104). */
struct crypto_part {
	const void *p;
	size_t len;
};
void crypto_hmac_sha256(const void *key, size_t keylen,
			const struct crypto_part *parts, size_t n,
			uint8_t out[CRYPTO_SHA256_LEN]);

/* Constant-time comparison: 1 if equal, 0 if not. */
int crypto_equal(const void *a, const void *b, size_t len);

/* Hex helpers: encode len bytes into out (2*len+1 bytes, lower case);
 * decode exactly `len` bytes from hex text (either case, whitespace around
 * is trimmed), 0 or QM_EINVAL with out untouched. */
void crypto_hex_encode(const uint8_t *in, size_t len, char *out);
int crypto_hex_decode(const char *hex, uint8_t *out, size_t len);

#endif
