/* Shared by the fuzz targets: a contract broken is a crash libFuzzer keeps
 * (with the input), like a sanitizer report. */
#ifndef QM_FUZZ_COMMON_H
#define QM_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A fresh directory named <name>.XXXXXX for a harness's files, on /dev/shm
 * when there is one: the targets test parsing and replay, not the disk, and
 * fdatasync on ext4 held the store target to ~1,800 runs/s (12,000 on tmpfs).
 * Falls back to $TMPDIR, then /tmp. Aborts when none can be made. */
static inline void fuzz_mkdtemp(char *dir, size_t n, const char *name)
{
	struct stat sb;
	const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
					   access("/dev/shm", W_OK) == 0
				   ? "/dev/shm"
				   : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	int w = snprintf(dir, n, "%s/%s.XXXXXX", base, name);
	FUZZ_CHECK(w > 0 && (size_t)w < n);
	FUZZ_CHECK(mkdtemp(dir) != NULL);
}

#endif
