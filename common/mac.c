#include "mac.h"

#include "qm_error.h"

#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mac_hmac_sha256(const void *key, size_t keylen, const struct mac_part *parts, size_t n,
		     uint8_t out[MAC_LEN])
{
	const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	mbedtls_md_init(&ctx);
	/* the only run-time failure is MBEDTLS_ERR_MD_ALLOC_FAILED; the
	 * others would be misuse (no SHA-256 in the library, NULL context) */
	int rv = mbedtls_md_setup(&ctx, info, 1);
	if (rv == MBEDTLS_ERR_MD_ALLOC_FAILED)
		qm_oom();
	if (rv == 0)
		rv = mbedtls_md_hmac_starts(&ctx, key, keylen);
	for (size_t i = 0; rv == 0 && i < n; i++)
		if (parts[i].len)
			rv = mbedtls_md_hmac_update(&ctx, parts[i].p, parts[i].len);
	if (rv == 0)
		rv = mbedtls_md_hmac_finish(&ctx, out);
	/* frees and zeroises the context, which holds the padded key */
	mbedtls_md_free(&ctx);
	if (rv != 0) {
		fprintf(stderr, "mac_hmac_sha256: mbedcrypto error -0x%04x\n", (unsigned)-rv);
		abort();
	}
}

bool mac_equal(const void *given, size_t glen, const void *want, size_t wlen)
{
	/* no early exit: the time taken must not tell how many bytes matched;
	 * bytes past the end of `given` compare against 0 and the length
	 * mismatch is folded into the same accumulator */
	const volatile uint8_t *g = given;
	const volatile uint8_t *w = want;
	volatile uint8_t diff = glen != wlen;
	for (size_t i = 0; i < wlen; i++) {
		uint8_t x = i < glen ? g[i] : 0;
		diff |= x ^ w[i];
	}
	return diff == 0;
}

void mac_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int hex_nibble(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

int mac_hex_decode(const char *hex, uint8_t *out, size_t len)
{
	if (!hex)
		return QM_EINVAL;
	while (is_blank(*hex))
		hex++;
	size_t n = strlen(hex);
	while (n && is_blank(hex[n - 1]))
		n--;
	if (n != 2 * len)
		return QM_EINVAL;
	/* validate everything first: on error out is left untouched */
	for (size_t i = 0; i < n; i++)
		if (hex_nibble(hex[i]) < 0)
			return QM_EINVAL;
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(hex_nibble(hex[2 * i]) << 4 | hex_nibble(hex[2 * i + 1]));
	return 0;
}
