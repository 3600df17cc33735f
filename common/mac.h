/* Message authentication for the bus and the token checks: HMAC-SHA256 over
 * a list of parts (mbedcrypto's md module does the hashing), one
 * constant-time comparison, and the hex text credentials travel in.
 * Plain SHA-256 callers use mbedtls_sha256_ret() directly. Pure functions,
 * safe on any thread. */
#ifndef QM_MAC_H
#define QM_MAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAC_LEN 32 /* bytes of an HMAC-SHA256 (and of a SHA-256 digest) */

/* One piece of the message: the MAC covers the parts concatenated. */
struct mac_part {
	const void *p;
	size_t len;
};

/* HMAC-SHA256 (RFC 2104) with key over parts[0..n). Any key length (longer
 * than 64 bytes is hashed first, as the RFC says). mbedcrypto only fails
 * here when it cannot allocate its context: that takes the project's
 * out-of-memory exit (qm_oom). Key material is wiped before returning. */
void mac_hmac_sha256(const void *key, size_t keylen, const struct mac_part *parts, size_t n,
		     uint8_t out[MAC_LEN]);

/* Is given (glen bytes) equal to want (wlen bytes)? The loop runs wlen
 * times, wlen being the length of the value we hold, whatever glen is and
 * wherever the two differ: no early exit, and a length mismatch is folded
 * into the same result. For MACs both lengths are MAC_LEN; for tokens want
 * is the configured token. */
bool mac_equal(const void *given, size_t glen, const void *want, size_t wlen);

/* Encode len bytes into out (2*len+1 bytes, lower case, NUL-terminated). */
void mac_hex_encode(const uint8_t *in, size_t len, char *out);

/* Decode exactly len bytes from hex text (either case; whitespace around it
 * is trimmed). 0, or QM_EINVAL with out untouched. */
int mac_hex_decode(const char *hex, uint8_t *out, size_t len);

#endif
