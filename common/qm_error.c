#include "qm_error.h"

#include "jarena.h"

#include <cjson/cJSON.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

const char *qm_strerror(int err)
{
	switch (err) {
	case QM_OK: return "success";
	case QM_EINVAL: return "invalid input";
	case QM_ETOOBIG: return "input too large";
	case QM_EIO: return "I/O error";
	case QM_EPROTO: return "protocol error";
	case QM_EAUTH: return "authentication failed";
	case QM_EVERSION: return "unsupported protocol version";
	case QM_ENOENT: return "not found";
	case QM_EBINARY: return "binary content";
	case QM_EAGAIN: return "try again";
	case QM_ECLOSED: return "closed";
	case QM_ECORRUPT: return "corrupt or truncated data";
	case QM_ECONFLICT: return "conflicting concurrent change";
	case QM_ETIMEDOUT: return "timed out";
	default: return "unknown error";
	}
}

_Noreturn void qm_oom(void)
{
	static const char msg[] = "level=fatal event=out_of_memory\n";
	fwrite(msg, 1, sizeof msg - 1, stderr);
	abort();
}

void *qm_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		qm_oom();
	return p;
}

void *qm_malloc_big(size_t n)
{
	void *p = qm_malloc(n);
	const uintptr_t huge = 2u << 20, page = 4096;
	if (n >= huge) {
		/* whole pages inside the block only: its neighbours' are
		 * not ours to change */
		uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
		uintptr_t e = ((uintptr_t)p + n) & ~(page - 1);
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
	}
	return p;
}

void *qm_calloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		qm_oom();
	return p;
}

void *qm_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		qm_oom();
	return q;
}

char *qm_strdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		qm_oom();
	return p;
}

char *qm_strdup_or_null(const char *s)
{
	return s ? qm_strdup(s) : NULL;
}

char *qm_strndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		qm_oom();
	return p;
}

int qm_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

void qm_cjson_policy(void)
{
	/* qm_malloc and free, except for trees parsed into an arena */
	cJSON_Hooks hooks = {.malloc_fn = jarena_malloc, .free_fn = jarena_free};
	cJSON_InitHooks(&hooks);
}
