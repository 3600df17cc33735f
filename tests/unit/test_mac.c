/* The vectors the hand-written SHA-256 and HMAC were held to, kept now
 * that mbedcrypto does the work: SHA-256 (the mbedtls_sha256 calls
 * store_zk.c makes) against FIPS 180-4 / NIST example vectors,
 * mac_hmac_sha256 against RFC 4231, plus the helpers' edge cases. */
#include "mac.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <mbedtls/sha256.h>
#include <stdlib.h>
#include <string.h>

static void sha_hex(const void *data, size_t len, char hex[2 * MAC_LEN + 1])
{
	uint8_t d[MAC_LEN];
	cr_assert_eq(mbedtls_sha256_ret(data, len, d, 0), 0);
	mac_hex_encode(d, sizeof d, hex);
}

static const char msg448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char msg896[] =
	"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
	"klmnopqrlmnopqrsmnopqrstnopqrstu";
static const char want896[] =
	"cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1";

Test(sha256, fips_abc)
{
	char hex[65];
	sha_hex("abc", 3, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(sha256, empty_string)
{
	char hex[65];
	sha_hex("", 0, hex);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* 56 bytes: the length no longer fits the first block's padding, so the
 * padding spills into a second block. */
Test(sha256, fips_448_bit_message)
{
	char hex[65];
	sha_hex(msg448, strlen(msg448), hex);
	cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, fips_896_bit_message)
{
	char hex[65];
	sha_hex(msg896, strlen(msg896), hex);
	cr_assert_str_eq(hex, want896);
}

Test(sha256, one_million_a)
{
	size_t n = 1000000;
	char *m = malloc(n);
	cr_assert_not_null(m);
	memset(m, 'a', n);
	char hex[65];
	sha_hex(m, n, hex);
	free(m);
	cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* The streaming interface must not depend on how input is cut: every
 * two-piece and many three-piece splits of the 112-byte message give the
 * published digest. */
Test(sha256, any_split_gives_same_digest)
{
	size_t n = strlen(msg896);
	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b += 5) {
			mbedtls_sha256_context c;
			uint8_t d[MAC_LEN];
			char hex[65];
			const unsigned char *m = (const unsigned char *)msg896;
			mbedtls_sha256_init(&c);
			cr_assert_eq(mbedtls_sha256_starts_ret(&c, 0), 0);
			cr_assert_eq(mbedtls_sha256_update_ret(&c, m, a), 0);
			cr_assert_eq(mbedtls_sha256_update_ret(&c, m + a, b - a), 0);
			cr_assert_eq(mbedtls_sha256_update_ret(&c, m + b, n - b), 0);
			cr_assert_eq(mbedtls_sha256_finish_ret(&c, d), 0);
			mbedtls_sha256_free(&c);
			mac_hex_encode(d, sizeof d, hex);
			cr_assert_str_eq(hex, want896, "split at %zu/%zu", a, b);
		}
	}
}

static void hmac_hex(const void *key, size_t keylen, const char *data, char hex[65])
{
	uint8_t mac[MAC_LEN];
	struct mac_part p = {data, strlen(data)};
	mac_hmac_sha256(key, keylen, &p, 1, mac);
	mac_hex_encode(mac, sizeof mac, hex);
}

Test(hmac, rfc4231_case1)
{
	uint8_t key[20];
	memset(key, 0x0b, sizeof key);
	char hex[65];
	hmac_hex(key, sizeof key, "Hi There", hex);
	cr_assert_str_eq(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

Test(hmac, rfc4231_case2_short_key)
{
	char hex[65];
	hmac_hex("Jefe", 4, "what do ya want for nothing?", hex);
	cr_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

Test(hmac, rfc4231_case6_key_longer_than_block)
{
	uint8_t key[131];
	memset(key, 0xaa, sizeof key);
	char hex[65];
	hmac_hex(key, sizeof key, "Test Using Larger Than Block-Size Key - Hash Key First", hex);
	cr_assert_str_eq(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

Test(hmac, rfc4231_case7_long_key_long_data)
{
	uint8_t key[131];
	memset(key, 0xaa, sizeof key);
	char hex[65];
	hmac_hex(key, sizeof key,
		 "This is a test using a larger than block-size key and a larger than "
		 "block-size data. The key needs to be hashed before being used by the "
		 "HMAC algorithm.",
		 hex);
	cr_assert_str_eq(hex, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* The parts are concatenated: RFC 4231 case 2 cut into pieces (with an
 * empty one) gives the same MAC. */
Test(hmac, parts_are_concatenated)
{
	const struct mac_part parts[] = {
		{"what do ya", 10}, {"", 0}, {" want for ", 10}, {"nothing?", 8}};
	uint8_t mac[MAC_LEN];
	char hex[65];
	mac_hmac_sha256("Jefe", 4, parts, 4, mac);
	mac_hex_encode(mac, sizeof mac, hex);
	cr_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

Test(mac, equal_compares_every_byte)
{
	uint8_t a[32], b[32];
	memset(a, 0x5a, sizeof a);
	memcpy(b, a, sizeof b);
	cr_assert_eq(mac_equal(a, sizeof a, b, sizeof b), 1);
	b[0] ^= 1;
	cr_assert_eq(mac_equal(a, sizeof a, b, sizeof b), 0);
	b[0] ^= 1;
	b[31] ^= 0x80;
	cr_assert_eq(mac_equal(a, sizeof a, b, sizeof b), 0);
	cr_assert_eq(mac_equal(a, 0, b, 0), 1);
}

/* The token checks' semantics (auth.c): a prefix, an extension or an empty
 * given value is not equal, also when the bytes compared agree. */
Test(mac, equal_needs_equal_lengths)
{
	const char tok[] = "0123456789abcdef0123456789abcdef";
	size_t n = sizeof tok - 1;
	cr_assert(mac_equal(tok, n, tok, n));
	cr_assert_not(mac_equal(tok, n - 1, tok, n));
	cr_assert_not(mac_equal("0123456789abcdef0123456789abcdefX", n + 1, tok, n));
	cr_assert_not(mac_equal("", 0, tok, n));
	cr_assert_not(mac_equal(tok, n, tok, 0));
	/* a given value shorter than the token, padded with NULs, is still
	 * shorter */
	char padded[40] = "0123456789abcdef";
	cr_assert_not(mac_equal(padded, 16, "0123456789abcdef\0\0", 18));
}

Test(mac, hex_encode)
{
	const uint8_t in[] = {0x00, 0x01, 0xab, 0xff, 0x10};
	char out[11];
	mac_hex_encode(in, sizeof in, out);
	cr_assert_str_eq(out, "0001abff10");
	mac_hex_encode(in, 0, out);
	cr_assert_str_eq(out, "");
}

Test(mac, hex_decode_accepts_case_and_surrounding_space)
{
	uint8_t out[4];
	cr_assert_eq(mac_hex_decode("  DeadBEEF\n", out, sizeof out), 0);
	const uint8_t want[] = {0xde, 0xad, 0xbe, 0xef};
	cr_assert_arr_eq(out, want, sizeof want);
}

Test(mac, hex_decode_rejects_bad_input_and_leaves_output)
{
	uint8_t out[4] = {1, 2, 3, 4};
	const uint8_t orig[4] = {1, 2, 3, 4};
	cr_assert_eq(mac_hex_decode("deadbe", out, 4), QM_EINVAL);     /* short */
	cr_assert_eq(mac_hex_decode("deadbeef00", out, 4), QM_EINVAL); /* long */
	cr_assert_eq(mac_hex_decode("deadbeeg", out, 4), QM_EINVAL);   /* not hex */
	cr_assert_eq(mac_hex_decode("dead beef", out, 4), QM_EINVAL);  /* inner space */
	cr_assert_eq(mac_hex_decode("", out, 4), QM_EINVAL);
	cr_assert_eq(mac_hex_decode(NULL, out, 4), QM_EINVAL);
	cr_assert_arr_eq(out, orig, sizeof orig);
}

Test(mac, hex_round_trip)
{
	uint8_t in[256], back[256];
	char hex[513];
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	mac_hex_encode(in, sizeof in, hex);
	cr_assert_eq(mac_hex_decode(hex, back, sizeof back), 0);
	cr_assert_arr_eq(in, back, sizeof in);
}
