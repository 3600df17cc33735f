#include "state/store_snap.h"

#include "qm_error.h"
#include "state/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int snap_write_bytes(int dirfd, const char *name, const char *p, size_t n,
		     struct stat *sb, const char **step)
{
	*step = "create";
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
			0600);
	if (fd < 0)
		return -1;
	*step = "write";
	int rv = write_all(fd, p, n);
	if (rv == 0) {
		*step = "fsync";
		rv = fsync(fd);
	}
	if (rv == 0) {
		*step = "stat";
		rv = fstat(fd, sb);
	}
	int e = errno;
	if (close(fd) != 0 && rv == 0) {
		*step = "close";
		return -1;
	}
	errno = e;
	return rv ? -1 : 0;
}

/* snap_write_bytes with snap_write's message, the temp file removed on
 * failure. */
static int write_text(int dirfd, const char *dir, const char *name, const char *text,
		      size_t len, struct stat *sb, char *err, size_t errlen)
{
	const char *step;
	if (snap_write_bytes(dirfd, name, text, len, sb, &step) == 0)
		return 0;
	int e = errno;
	char eb[128];
	unlinkat(dirfd, name, 0);
	return qm_fail(err, errlen, QM_EIO, "cannot write the state snapshot %s/%s (%s): %s",
		       dir, name, step, strerror_r(e, eb, sizeof eb));
}

int snap_write(int dirfd, const char *dir, const char *name,
	       const struct store_state *s, uint64_t version, struct stat *sb,
	       char *err, size_t errlen)
{
	char *text;
	size_t len;
	if (store_state_to_json_fmt(s, version, STORE_FORMAT_VERSION_LOG, &text, &len))
		return qm_fail(err, errlen, QM_ETOOBIG,
			       "state would be larger than the %u MiB cap",
			       STORE_MAX_BYTES >> 20);
	int rv = write_text(dirfd, dir, name, text, len, sb, err, errlen);
	free(text);
	return rv;
}

struct snap_job {
	pthread_t th;
	int dirfd;
	char *dir;
	char *name;
	struct store_state s;
	uint64_t version;
	const char *text; /* snap_start_text's (borrowed), else NULL */
	size_t len;
	struct stat sb;
	int rv;
	char err[512];
	atomic_bool done;
};

void (*store_snap_hook)(void);

static void *job_main(void *arg)
{
	struct snap_job *j = arg;
	if (store_snap_hook)
		store_snap_hook();
	if (j->text)
		j->rv = write_text(j->dirfd, j->dir, j->name, j->text, j->len, &j->sb, j->err,
				   sizeof j->err);
	else
		j->rv = snap_write(j->dirfd, j->dir, j->name, &j->s, j->version, &j->sb,
				   j->err, sizeof j->err);
	store_state_fini(&j->s); /* here, not on the caller's thread */
	atomic_store_explicit(&j->done, true, memory_order_release);
	return NULL;
}

/* A job for dirfd/dir/name, its thread started; NULL (nothing kept)
 * when none could be. */
static struct snap_job *job_start(int dirfd, const char *dir, const char *name,
				  const struct snap_job *what)
{
	struct snap_job *j = qm_calloc(1, sizeof *j);
	*j = *what;
	j->dirfd = dirfd;
	j->dir = qm_strdup(dir);
	j->name = qm_strdup(name);
	atomic_init(&j->done, false);
	if (pthread_create(&j->th, NULL, job_main, j) != 0) {
		free(j->dir);
		free(j->name);
		free(j);
		return NULL;
	}
	return j;
}

struct snap_job *snap_start(int dirfd, const char *dir, const char *name,
			    struct store_state *s, uint64_t version)
{
	struct snap_job what = {.s = *s, .version = version};
	struct snap_job *j = job_start(dirfd, dir, name, &what);
	if (j)
		store_state_init(s);
	return j;
}

struct snap_job *snap_start_text(int dirfd, const char *dir, const char *name,
				 const char *text, size_t len)
{
	struct snap_job what = {.text = text, .len = len};
	store_state_init(&what.s); /* job_main finishes it: empty */
	return job_start(dirfd, dir, name, &what);
}

bool snap_done(const struct snap_job *j)
{
	return atomic_load_explicit(&j->done, memory_order_acquire);
}

int snap_finish(struct snap_job *j, struct stat *sb, char *err, size_t errlen)
{
	pthread_join(j->th, NULL);
	int rv = j->rv;
	if (rv == 0)
		*sb = j->sb;
	else
		snprintf(err, errlen, "%s", j->err);
	free(j->dir);
	free(j->name);
	free(j);
	return rv;
}
