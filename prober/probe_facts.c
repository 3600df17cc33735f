#include "probe_facts.h"

#include "log.h"
#include "probe.h"
#include "qm_error.h"

#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

void probe_facts_fini(struct probe_facts *c)
{
	free(c->uuid);
	free(c->label);
	free(c->udev_serial);
	free(c->udev_wwn);
	free(c->udev_model);
}

/* Read a small sysfs attribute into buf (trailing newline removed). */
static bool read_attr(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t r = read(fd, buf, cap - 1);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = '\0';
	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
		buf[--r] = '\0';
	return true;
}

static bool read_attr_u64(const char *path, uint64_t *v)
{
	char buf[64];
	if (!read_attr(path, buf, sizeof buf))
		return false;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(buf, &end, 10);
	if (errno || end == buf || *end)
		return false;
	*v = x;
	return true;
}

static void sysfs_fill(struct probe_facts *ce)
{
	char path[128];
	unsigned ma = major(ce->devnum), mi = minor(ce->devnum);
	uint64_t v;
	snprintf(path, sizeof path, "/sys/dev/block/%u:%u/size", ma, mi);
	if (read_attr_u64(path, &v) && v <= UINT64_MAX / 512) {
		ce->has_size = true;
		ce->size = v * 512;
	}
	snprintf(path, sizeof path, "/sys/dev/block/%u:%u/partition", ma, mi);
	if (read_attr_u64(path, &v) && v < 1u << 20) {
		ce->partition = (int)v;
		/* a partition has no queue/ of its own: ask the disk */
		snprintf(path, sizeof path,
			 "/sys/dev/block/%u:%u/../queue/rotational", ma, mi);
	} else {
		snprintf(path, sizeof path,
			 "/sys/dev/block/%u:%u/queue/rotational", ma, mi);
	}
	if (read_attr_u64(path, &v))
		ce->rotational = v ? 1 : 0;
}

/* A udev property, copied when present, non-empty and within the cap. */
static char *udev_prop(struct udev_device *ud, const char *name)
{
	const char *v = udev_device_get_property_value(ud, name);
	if (!v || !v[0])
		return NULL;
	if (strlen(v) > PROBE_MAX_PROP) {
		log_debug("udev_property_ignored", "property=%s reason=too_long",
			  name);
		return NULL;
	}
	return qm_strdup(v);
}

static int open_blockdev(struct probe_env *c, const char *path, dev_t devnum,
			 bool via_host)
{
	/* read-only, always: a write-open alone makes udev emit "change" */
	int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd = via_host ? probe_env_open(c, path, flags) : open(path, flags);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISBLK(st.st_mode) || st.st_rdev != devnum) {
		close(fd);
		return -1;
	}
	return fd;
}

static char *blkid_value(blkid_probe pr, const char *name)
{
	const char *data = NULL;
	size_t len = 0;
	if (blkid_probe_lookup_value(pr, name, &data, &len) != 0 || !data)
		return NULL;
	/* len counts the terminating NUL */
	size_t l = strnlen(data, len);
	if (l == 0 || l > PROBE_MAX_PROP)
		return NULL;
	return qm_strndup(data, l);
}

static void blkid_fill(struct probe_env *c, struct probe_facts *ce,
		       const char *devnode, const char *source)
{
	const char *tries[4];
	bool host[4];
	size_t nt = 0;
	if (devnode) {
		if (c->host_fd >= 0) {
			tries[nt] = devnode;
			host[nt++] = true;
		}
		tries[nt] = devnode;
		host[nt++] = false;
	}
	if (source && strncmp(source, "/dev/", 5) == 0) {
		if (c->host_fd >= 0) {
			tries[nt] = source;
			host[nt++] = true;
		}
		tries[nt] = source;
		host[nt++] = false;
	}
	int fd = -1;
	for (size_t i = 0; i < nt && fd < 0; i++)
		fd = open_blockdev(c, tries[i], ce->devnum, host[i]);
	if (fd < 0) {
		log_debug("blkid_skipped", "device=%u:%u reason=no_device_node",
			  major(ce->devnum), minor(ce->devnum));
		return;
	}
	if (!ce->has_size) {
		uint64_t sz;
		if (ioctl(fd, BLKGETSIZE64, &sz) == 0) {
			ce->has_size = true;
			ce->size = sz;
		}
	}
	/* udev's ID_FS_UUID means udev ran blkid already: a missing label
	 * is then simply no label */
	if (!ce->uuid) {
		blkid_probe pr = blkid_new_probe();
		if (pr && blkid_probe_set_device(pr, fd, 0, 0) == 0) {
			blkid_probe_enable_partitions(pr, 0);
			blkid_probe_enable_superblocks(pr, 1);
			blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_UUID |
							       BLKID_SUBLKS_LABEL |
							       BLKID_SUBLKS_TYPE);
			blkid_probe_filter_superblocks_type(pr, BLKID_FLTR_ONLYIN,
							    c->blkid_types);
			__atomic_add_fetch(&c->blkid_runs, 1, __ATOMIC_RELAXED);
			if (blkid_do_safeprobe(pr) == 0) {
				if (!ce->uuid)
					ce->uuid = blkid_value(pr, "UUID");
				if (!ce->label)
					ce->label = blkid_value(pr, "LABEL");
			}
		}
		if (pr)
			blkid_free_probe(pr);
	}
	close(fd);
}

/* ext4 mounts ext2/ext3 filesystems; blkid and udev name them by their
 * superblock. */
static bool same_fs_family(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	if (strcmp(a, b) == 0)
		return true;
	return strncmp(a, "ext", 3) == 0 && strncmp(b, "ext", 3) == 0;
}

bool probe_facts_compute(struct probe_env *c, struct udev *udev, const char *source,
			 const char *fstype, struct probe_facts *e)
{
	dev_t devnum = e->devnum;
	e->rotational = -1;
	sysfs_fill(e);
	char *devnode = NULL;
	bool settled = true;
	/* the udev database outlives udevd (/run/udev/data stays behind
	 * when it stops): believe it only while udevd runs */
	bool udevd = access("/run/udev/control", F_OK) == 0;
	struct udev_device *ud =
		udev ? udev_device_new_from_devnum(udev, 'b', devnum) : NULL;
	if (ud) {
		const char *dn = udev_device_get_devnode(ud);
		if (dn)
			devnode = qm_strdup(dn);
		if (udevd && udev_device_get_is_initialized(ud) > 0) {
			e->udev_serial = udev_prop(ud, "ID_SERIAL");
			e->udev_wwn = udev_prop(ud, "ID_WWN");
			e->udev_model = udev_prop(ud, "ID_MODEL");
			const char *t = udev_device_get_property_value(ud, "ID_FS_TYPE");
			if (!t || same_fs_family(t, fstype)) {
				e->uuid = udev_prop(ud, "ID_FS_UUID");
				e->label = udev_prop(ud, "ID_FS_LABEL");
			} else {
				/* udev has not seen the new filesystem yet */
				settled = false;
			}
		} else if (udevd) {
			/* udevd runs but has not finished with this device
			 * (a hot-add racing us): use blkid now, ask again on
			 * the next rescan or udev event */
			settled = false;
		}
		udev_device_unref(ud);
	}
	if (!e->uuid || !e->has_size)
		blkid_fill(c, e, devnode, source);
	free(devnode);
	return settled;
}
