/* What the probe worker threads read: the host root (how host paths are
 * opened) and the blkid filter. Fixed after probe_env_new, shared by the
 * probe context and every probe job (a job blocked in the kernel may
 * outlive the context), freed with the last reference. Thread-safe. */
#ifndef QM_PROBE_ENV_H
#define QM_PROBE_ENV_H

#include <stdbool.h>
#include <stddef.h>

struct probe_env {
	int refs;           /* atomic */
	char *host_root;    /* NULL = local */
	int host_fd;        /* dirfd of the host root, -1 = local */
	bool no_openat2;    /* atomic: the kernel lacks it, concatenate */
	char **blkid_types; /* NULL-terminated for blkid */
	unsigned long blkid_runs; /* atomic */
};

/* One reference. host_root NULL, "" or "/" = paths are local; fs_types:
 * the blkid filter (ext4 implies ext2/ext3). 0, or QM_EIO when the host
 * root cannot be opened (errno kept). */
int probe_env_new(const char *host_root, char *const *fs_types, size_t n_fs_types,
		  struct probe_env **out);
struct probe_env *probe_env_ref(struct probe_env *e);
void probe_env_unref(struct probe_env *e);

/* Open a host path through the host root: openat2(RESOLVE_IN_ROOT) on the
 * host root directory, so an absolute symlink on the host resolves inside
 * the host; plain prefix concatenation where openat2 is missing. Returns
 * the fd, or -1 with errno set. */
int probe_env_open(struct probe_env *e, const char *path, int flags);

#endif
