#include "probe_env.h"

#include "inventory.h"
#include "qm_error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int probe_env_new(const char *host_root, char *const *fs_types, size_t n_fs_types,
		  struct probe_env **out)
{
	*out = NULL;
	struct probe_env *e = qm_calloc(1, sizeof *e);
	e->refs = 1;
	e->host_fd = -1;
	if (host_root && host_root[0] && strcmp(host_root, "/") != 0) {
		e->host_fd = open(host_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (e->host_fd < 0) {
			int err = errno;
			free(e);
			errno = err;
			return QM_EIO;
		}
		e->host_root = qm_strdup(host_root);
	}
	/* an ext4 mount may carry an ext2/ext3 superblock as blkid names it */
	e->blkid_types = qm_calloc(n_fs_types * 3 + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n_fs_types; i++) {
		e->blkid_types[k++] = qm_strdup(fs_types[i]);
		if (strcmp(fs_types[i], "ext4") == 0) {
			e->blkid_types[k++] = qm_strdup("ext3");
			e->blkid_types[k++] = qm_strdup("ext2");
		}
	}
	*out = e;
	return 0;
}

struct probe_env *probe_env_ref(struct probe_env *e)
{
	__atomic_add_fetch(&e->refs, 1, __ATOMIC_ACQ_REL);
	return e;
}

void probe_env_unref(struct probe_env *e)
{
	if (!e || __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; e->blkid_types[i]; i++)
		free(e->blkid_types[i]);
	free(e->blkid_types);
	if (e->host_fd >= 0)
		close(e->host_fd);
	free(e->host_root);
	free(e);
}

int probe_env_open(struct probe_env *c, const char *path, int flags)
{
	if (c->host_fd < 0)
		return open(path, flags);
	if (!__atomic_load_n(&c->no_openat2, __ATOMIC_RELAXED)) {
		struct open_how how;
		memset(&how, 0, sizeof how);
		how.flags = (uint64_t)flags;
		how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
		long fd = syscall(SYS_openat2, c->host_fd, path, &how, sizeof how);
		if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
			return (int)fd;
		__atomic_store_n(&c->no_openat2, true, __ATOMIC_RELAXED);
	}
	char *full = inv_strf("%s%s", c->host_root, path);
	int fd = open(full, flags);
	int e = errno;
	free(full);
	errno = e;
	return fd;
}
