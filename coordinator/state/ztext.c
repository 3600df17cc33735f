#include "state/ztext.h"

#include "qm_error.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define Z_LEVEL 3 /* the state text compresses ~25:1 already at this level */

char *ztext_deflate(const char *text, size_t len, size_t prefix,
		    size_t *outlen)
{
	uLongf n = compressBound((uLong)len);
	char *out = qm_malloc(prefix + n);
	int zr = compress2((Bytef *)out + prefix, &n, (const Bytef *)text,
			   (uLong)len, Z_LEVEL);
	if (zr != Z_OK)
		qm_oom(); /* Z_MEM_ERROR; the buffer is large enough */
	*outlen = n;
	return out;
}

int ztext_inflate(const char *z, size_t zlen, size_t max, char **out,
		  size_t *outlen, char *why, size_t whylen)
{
	z_stream st;
	memset(&st, 0, sizeof st);
	if (inflateInit(&st) != Z_OK)
		qm_oom();
	size_t cap = zlen * 8 + 4096, n = 0;
	if (cap > max + 1)
		cap = max + 1;
	char *buf = qm_malloc(cap + 1);
	st.next_in = (Bytef *)z;
	st.avail_in = (uInt)zlen;
	int zr;
	int rv = 0;
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				rv = qm_fail(why, whylen, QM_ETOOBIG, "inflates to more "
					  "than %zu MiB", max >> 20);
				break;
			}
			cap = cap * 2 > max + 1
				      ? max + 1 : cap * 2;
			buf = qm_realloc(buf, cap + 1);
		}
		st.next_out = (Bytef *)buf + n;
		st.avail_out = (uInt)(cap - n);
		zr = inflate(&st, Z_NO_FLUSH);
		n = cap - st.avail_out;
		if (zr == Z_STREAM_END) {
			if (st.avail_in != 0)
				rv = qm_fail(why, whylen, QM_ECORRUPT, "%u bytes after the "
					  "end of the compressed data", st.avail_in);
			break;
		}
		if (zr == Z_MEM_ERROR)
			qm_oom();
		if (zr != Z_OK && !(zr == Z_BUF_ERROR && st.avail_out == 0)) {
			rv = qm_fail(why, whylen, QM_ECORRUPT, "compressed data is "
				  "damaged (zlib: %s)", st.msg ? st.msg
				  : zr == Z_BUF_ERROR ? "truncated" : "error");
			break;
		}
	}
	inflateEnd(&st);
	if (rv) {
		free(buf);
		return rv;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}
