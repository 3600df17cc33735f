/* The facts of one block device that the prober caches by dev_t, because
 * they do not change while it is mounted and blkid is the expensive part:
 * filesystem UUID and label from the udev database when udev has
 * processed the device, else from libblkid restricted to the configured
 * filesystem types (a few small reads, O_RDONLY on the device node, never
 * a write); size from sysfs (or BLKGETSIZE64); rotational from sysfs; udev
 * identity ID_SERIAL / ID_WWN / ID_MODEL; the partition number. */
#ifndef QM_PROBE_FACTS_H
#define QM_PROBE_FACTS_H

#include "probe_env.h"

#include <libudev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* What is remembered about one block device between rescans. */
struct probe_facts {
	dev_t devnum;
	char *uuid, *label;
	char *udev_serial, *udev_wwn, *udev_model;
	bool has_size;
	uint64_t size;
	int rotational;
	int partition;
};

/* Gather the facts of a block device into *e (zeroed by the caller but for
 * devnum). Returns false when udev is still processing the device: the
 * facts are then not to be cached, so the next rescan asks again. Blocks
 * on the device: worker thread; udev is the thread's own context (or
 * NULL). */
bool probe_facts_compute(struct probe_env *env, struct udev *udev, const char *source,
			 const char *fstype, struct probe_facts *e);
void probe_facts_fini(struct probe_facts *f);

#endif
