#include "state/store_file.h"

#include "qm_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FILE STORE_FILE_STATE
#define LOCK_FILE STORE_FILE_LOCK
#define TMP_PREFIX "state.json.tmp."
#define RESET_HINT "refusing to start with an empty state - move it away to reset"

static const char *errstr(int e, char *buf, size_t cap)
{
	return strerror_r(e, buf, cap); /* GNU variant: returns the text */
}

struct file_store {
	char *dir;
	char *path;         /* <dir>/state.json, for messages */
	int dirfd;
	int lockfd;
	bool known;         /* version/exists/st reflect the file on disk */
	bool exists;
	uint64_t version;
	struct stat st;     /* state.json as last read or written */
	unsigned seq;       /* temp file names */
};

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Read state.json whole: 0, QM_ENOENT, QM_ETOOBIG, QM_EIO (message set). */
static int file_read(struct file_store *fs, char **buf, size_t *len,
		     struct stat *sb, char *err, size_t errlen)
{
	char eb[128];
	*buf = NULL;
	*len = 0;
	int fd = openat(fs->dirfd, STATE_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return QM_ENOENT;
		return qm_fail(err, errlen, QM_EIO, "cannot open state file %s: %s",
			    fs->path, errstr(errno, eb, sizeof eb));
	}
	if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
		close(fd);
		return qm_fail(err, errlen, QM_EIO,
			    "state file %s is not a regular file", fs->path);
	}
	if ((uint64_t)sb->st_size > STORE_MAX_BYTES) {
		close(fd);
		return qm_fail(err, errlen, QM_ETOOBIG,
			    "state file %s is %lld bytes, more than the %u MiB "
			    "cap; " RESET_HINT, fs->path, (long long)sb->st_size,
			    STORE_MAX_BYTES >> 20);
	}
	/* Read to the cap + 1 whatever st_size said: the file may grow. */
	size_t cap = (size_t)sb->st_size + 1, n = 0;
	char *b = qm_malloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap > STORE_MAX_BYTES)
				break;
			cap = cap * 2 > STORE_MAX_BYTES + 1 ? STORE_MAX_BYTES + 1
							    : cap * 2;
			b = qm_realloc(b, cap + 1);
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(b);
			close(fd);
			return qm_fail(err, errlen, QM_EIO,
				    "cannot read state file %s: %s", fs->path,
				    errstr(e, eb, sizeof eb));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > STORE_MAX_BYTES) {
		free(b);
		return qm_fail(err, errlen, QM_ETOOBIG,
			    "state file %s is larger than the %u MiB cap; "
			    RESET_HINT, fs->path, STORE_MAX_BYTES >> 20);
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

static int file_load(void *impl, struct store_state *out, uint64_t *version,
		     char *err, size_t errlen)
{
	struct file_store *fs = impl;
	char *buf;
	size_t len;
	struct stat sb;
	store_state_init(out);
	*version = 0;
	int rv = file_read(fs, &buf, &len, &sb, err, errlen);
	if (rv == QM_ENOENT) {
		fs->known = true;
		fs->exists = false;
		fs->version = 0;
		return 0;
	}
	if (rv)
		return rv;
	char why[256];
	rv = store_state_from_json(buf, len, out, version, why, sizeof why);
	free(buf);
	if (rv == QM_EVERSION)
		return qm_fail(err, errlen, rv,
			    "state file %s was %s; refusing to use or overwrite it",
			    fs->path, why);
	if (rv)
		return qm_fail(err, errlen, rv, "state file %s is corrupt: %s; "
			    RESET_HINT, fs->path, why);
	fs->known = true;
	fs->exists = true;
	fs->version = *version;
	fs->st = sb;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int file_save(void *impl, const struct store_state *s,
		     uint64_t expected, uint64_t *new_version, char *err,
		     size_t errlen)
{
	struct file_store *fs = impl;
	char eb[128];
	int rv;

	if (!fs->known) {
		/* First save without a load: learn the version (and refuse to
		 * overwrite a corrupt state). */
		struct store_state tmp;
		uint64_t v;
		rv = file_load(fs, &tmp, &v, err, errlen);
		store_state_fini(&tmp);
		if (rv)
			return rv;
	} else {
		struct stat sb;
		bool exists = fstatat(fs->dirfd, STATE_FILE, &sb,
				      AT_SYMLINK_NOFOLLOW) == 0;
		if (!exists && errno != ENOENT)
			return qm_fail(err, errlen, QM_EIO, "cannot stat %s: %s",
				    fs->path, errstr(errno, eb, sizeof eb));
		if (exists != fs->exists || (exists && !same_file(&sb, &fs->st))) {
			fs->known = false;
			return qm_fail(err, errlen, QM_ECONFLICT,
				    "state file %s was changed by someone else "
				    "since this coordinator last read it", fs->path);
		}
	}
	if (expected != fs->version)
		return qm_fail(err, errlen, QM_ECONFLICT,
			    "stale state version: expected %" PRIu64
			    ", %s is at %" PRIu64, expected, fs->path,
			    fs->version);

	char *text;
	size_t len;
	rv = store_state_to_json(s, fs->version + 1, &text, &len);
	if (rv)
		return qm_fail(err, errlen, rv,
			    "state would be larger than the %u MiB cap",
			    STORE_MAX_BYTES >> 20);

	char tmpname[64];
	int fd = -1;
	for (int tries = 0; tries < 100 && fd < 0; tries++) {
		snprintf(tmpname, sizeof tmpname, TMP_PREFIX "%ld.%u",
			 (long)getpid(), fs->seq++);
		fd = openat(fs->dirfd, tmpname,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		free(text);
		return qm_fail(err, errlen, QM_EIO,
			    "cannot create a temporary file in %s: %s", fs->dir,
			    errstr(errno, eb, sizeof eb));
	}
	const char *step = "write";
	struct stat sb;
	if (write_all(fd, text, len) != 0)
		goto io_error;
	step = "fsync";
	if (fsync(fd) != 0)
		goto io_error;
	step = "stat";
	if (fstat(fd, &sb) != 0)
		goto io_error;
	step = "close";
	if (close(fd) != 0) {
		fd = -1;
		goto io_error;
	}
	fd = -1;
	step = "rename";
	if (renameat(fs->dirfd, tmpname, fs->dirfd, STATE_FILE) != 0)
		goto io_error;
	free(text);
	/* Durable only once the directory entry is: until then a crash may
	 * bring back the old state, which the version check then reflects. */
	if (fsync(fs->dirfd) != 0) {
		fs->known = false;
		return qm_fail(err, errlen, QM_EIO, "cannot fsync directory %s: %s",
			    fs->dir, errstr(errno, eb, sizeof eb));
	}
	fs->known = true;
	fs->exists = true;
	fs->version++;
	fs->st = sb;
	*new_version = fs->version;
	return 0;

io_error:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(fs->dirfd, tmpname, 0);
	free(text);
	return qm_fail(err, errlen, QM_EIO, "cannot save state file %s (%s): %s",
		    fs->path, step, errstr(e, eb, sizeof eb));
}

static void file_close(void *impl)
{
	struct file_store *fs = impl;
	if (!fs)
		return;
	if (fs->lockfd >= 0)
		close(fs->lockfd); /* releases the flock */
	if (fs->dirfd >= 0)
		close(fs->dirfd);
	free(fs->dir);
	free(fs->path);
	free(fs);
}

static const struct store_ops file_ops = {
	.name = "file",
	.load = file_load,
	.save = file_save,
	.close = file_close,
};

/* Temp files left by a crash: garbage, since we hold the lock. */
static void remove_stale_temps(int dirfd)
{
	int fd = dup(dirfd);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, TMP_PREFIX, sizeof TMP_PREFIX - 1) == 0)
			unlinkat(dirfd, e->d_name, 0);
	closedir(d);
}

/* Take the lock of an opened directory. 0, QM_ECONFLICT (held: the
 * message names the holder's pid when it wrote one) or QM_EIO. */
static int lock_dir(struct file_store *fs, const char *dir, char *err,
		    size_t errlen)
{
	char eb[128];
	fs->lockfd = openat(fs->dirfd, LOCK_FILE,
			    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fs->lockfd < 0)
		return qm_fail(err, errlen, QM_EIO, "cannot open %s/%s: %s", dir,
			       LOCK_FILE, errstr(errno, eb, sizeof eb));
	if (flock(fs->lockfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK)
			return qm_fail(err, errlen, QM_EIO, "cannot lock %s/%s: %s",
				       dir, LOCK_FILE, errstr(errno, eb, sizeof eb));
		char pid[24] = "";
		ssize_t n = pread(fs->lockfd, pid, sizeof pid - 1, 0);
		if (n > 0) {
			pid[n] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
		}
		return qm_fail(err, errlen, QM_ECONFLICT,
			       "state directory %s is in use by another "
			       "coordinator (pid %s); only one may use it", dir,
			       pid[0] ? pid : "?");
	}
	/* The pid is only a hint for the "in use" message: best effort. */
	char pid[24];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fs->lockfd, 0) == 0)
		(void)!pwrite(fs->lockfd, pid, (size_t)n, 0);
	return 0;
}

int store_file_open(const char *dir, struct store **out, char *err,
		    size_t errlen)
{
	char eb[128];
	*out = NULL;
	if (!*dir || strlen(dir) > 4000)
		return qm_fail(err, errlen, QM_EINVAL,
			       "state directory path is empty or too long");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return qm_fail(err, errlen, QM_EIO,
			       "cannot create state directory %s: %s", dir,
			       errstr(errno, eb, sizeof eb));
	struct file_store *fs = qm_calloc(1, sizeof *fs);
	fs->lockfd = -1;
	fs->dir = qm_strdup(dir);
	size_t pl = strlen(dir) + sizeof "/" STATE_FILE;
	fs->path = qm_malloc(pl);
	snprintf(fs->path, pl, "%s%s" STATE_FILE, dir,
		 dir[strlen(dir) - 1] == '/' ? "" : "/");
	int rv = 0;
	fs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->dirfd < 0)
		rv = qm_fail(err, errlen, QM_EIO,
			     "cannot open state directory %s: %s", dir,
			     errstr(errno, eb, sizeof eb));
	if (!rv)
		rv = lock_dir(fs, dir, err, errlen);
	if (rv) {
		file_close(fs);
		return rv;
	}
	remove_stale_temps(fs->dirfd);
	*out = store_new(&file_ops, fs, dir);
	return 0;
}
