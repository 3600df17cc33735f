/* Shared by the fuzz targets: a contract broken is a crash libFuzzer keeps
 * (with the input), like a sanitizer report. */
#ifndef QM_FUZZ_COMMON_H
#define QM_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                         \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "fuzz contract broken: %s (%s:%d)\n",    \
				#cond, __FILE__, __LINE__);                      \
			abort();                                                 \
		}                                                                \
	} while (0)

/* A NUL-terminated heap copy of the input. */
static inline char *fuzz_cstr(const unsigned char *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Is a fixed buffer NUL-terminated within its size? */
#define FUZZ_TERMINATED(buf) (memchr((buf), '\0', sizeof(buf)) != NULL)

#endif
