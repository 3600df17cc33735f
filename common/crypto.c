#include "crypto.h"

#include "qm_error.h"

#include <string.h>

/* FIPS 180-4, 4.2.2: the first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* FIPS 180-4, 6.2.2: one 512-bit block. */
static void compress(uint32_t h[8], const uint8_t block[64])
{
	uint32_t w[64];
	for (int t = 0; t < 16; t++)
		w[t] = load_be32(block + 4 * t);
	for (int t = 16; t < 64; t++) {
		uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
	uint32_t e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int t = 0; t < 64; t++) {
		uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = hh + S1 + ch + K[t] + w[t];
		uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = S0 + maj;
		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += hh;
}

void crypto_sha256_init(struct crypto_sha256 *c)
{
	/* FIPS 180-4, 5.3.3 */
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
				       0xa54ff53a, 0x510e527f, 0x9b05688c,
				       0x1f83d9ab, 0x5be0cd19};
	memcpy(c->h, h0, sizeof h0);
	c->total = 0;
	c->buflen = 0;
}

void crypto_sha256_update(struct crypto_sha256 *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	c->total += len;
	if (c->buflen) {
		size_t take = 64 - c->buflen;
		if (take > len)
			take = len;
		memcpy(c->buf + c->buflen, p, take);
		c->buflen += take;
		p += take;
		len -= take;
		if (c->buflen < 64)
			return;
		compress(c->h, c->buf);
		c->buflen = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		compress(c->h, p);
	if (len) {
		memcpy(c->buf, p, len);
		c->buflen = len;
	}
}

void crypto_sha256_final(struct crypto_sha256 *c, uint8_t out[CRYPTO_SHA256_LEN])
{
	/* FIPS 180-4, 5.1.1: 0x80, zeros to 56 mod 64, bit length big-endian */
	uint64_t bits = c->total * 8;
	c->buf[c->buflen++] = 0x80;
	if (c->buflen > 56) {
		memset(c->buf + c->buflen, 0, 64 - c->buflen);
		compress(c->h, c->buf);
		c->buflen = 0;
	}
	memset(c->buf + c->buflen, 0, 56 - c->buflen);
	store_be32(c->buf + 56, (uint32_t)(bits >> 32));
	store_be32(c->buf + 60, (uint32_t)bits);
	compress(c->h, c->buf);
	for (int i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->h[i]);
	/* the state may hold key material (HMAC pads) */
	explicit_bzero(c, sizeof *c);
}

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
	struct crypto_sha256 c;
	crypto_sha256_init(&c);
	crypto_sha256_update(&c, data, len);
	crypto_sha256_final(&c, out);
}

/* RFC 2104: H((K ^ opad) || H((K ^ ipad) || text)), keys longer than the
 * block size hashed first. */
void crypto_hmac_sha256(const void *key, size_t keylen,
			const struct crypto_part *parts, size_t n,
			uint8_t out[CRYPTO_SHA256_LEN])
{
	uint8_t k[64] = {0};
	uint8_t pad[64];
	uint8_t inner[CRYPTO_SHA256_LEN];
	struct crypto_sha256 c;

	if (keylen > sizeof k)
		crypto_sha256(key, keylen, k);
	else if (keylen)
		memcpy(k, key, keylen);

	for (size_t i = 0; i < sizeof pad; i++)
		pad[i] = k[i] ^ 0x36;
	crypto_sha256_init(&c);
	crypto_sha256_update(&c, pad, sizeof pad);
	for (size_t i = 0; i < n; i++)
		if (parts[i].len)
			crypto_sha256_update(&c, parts[i].p, parts[i].len);
	crypto_sha256_final(&c, inner);

	for (size_t i = 0; i < sizeof pad; i++)
		pad[i] = k[i] ^ 0x5c;
	crypto_sha256_init(&c);
	crypto_sha256_update(&c, pad, sizeof pad);
	crypto_sha256_update(&c, inner, sizeof inner);
	crypto_sha256_final(&c, out);

	explicit_bzero(k, sizeof k);
	explicit_bzero(pad, sizeof pad);
	explicit_bzero(inner, sizeof inner);
}

int crypto_equal(const void *a, const void *b, size_t len)
{
	/* no early exit: the time taken must not tell how many bytes matched */
	const volatile uint8_t *x = a;
	const volatile uint8_t *y = b;
	uint8_t diff = 0;
	for (size_t i = 0; i < len; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

void crypto_hex_encode(const uint8_t *in, size_t len, char *out)
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
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' ||
	       ch == '\v' || ch == '\f';
}

int crypto_hex_decode(const char *hex, uint8_t *out, size_t len)
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
		out[i] = (uint8_t)(hex_nibble(hex[2 * i]) << 4 |
				   hex_nibble(hex[2 * i + 1]));
	return 0;
}
