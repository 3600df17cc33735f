/* The inventory rules: which mounts are candidates, bind-mount folding,
 * identity keys, conflicts, and what counts as a change between two
 * inventories (what the coordinator gets as a delta). */
#include "bus.h"
#include "inventory.h"
#include "marker.h"
#include "mountinfo.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

static struct inv_device *blockdev(struct inv *inv, const char *root,
				   const char *uuid, unsigned types)
{
	struct inv_device *d = inv_add(inv);
	d->root = strdup(root);
	d->fs_root = strdup("/");
	d->fs_type = strdup("ext4");
	d->block_device = strdup("/dev/loop9");
	if (uuid)
		d->fs_uuid = strdup(uuid);
	d->types = types;
	d->state = types ? INV_STATE_OK : INV_STATE_NO_TYPE;
	d->has_size = true;
	d->size_bytes = 100ull << 30;
	d->has_free = true;
	d->free_bytes = 50ull << 30;
	return d;
}

static struct inv_device *dirdev(struct inv *inv, const char *root, unsigned types)
{
	struct inv_device *d = inv_add(inv);
	d->root = strdup(root);
	d->is_directory = true;
	d->types = types;
	d->state = types ? INV_STATE_OK : INV_STATE_NO_TYPE;
	return d;
}

static const struct inv_device *find_root(const struct inv *inv, const char *root)
{
	for (size_t i = 0; i < inv->n; i++)
		if (strcmp(inv->dev[i].root, root) == 0)
			return &inv->dev[i];
	return NULL;
}

static void load_mountinfo(const char *name, struct mountinfo *mi)
{
	char path[512];
	snprintf(path, sizeof path, "%s/mountinfo/%s", QM_TEST_DATA, name);
	int fd = open(path, O_RDONLY);
	cr_assert(fd >= 0);
	char *buf;
	size_t len;
	cr_assert_eq(mountinfo_read_fd(fd, &buf, &len), 0);
	close(fd);
	cr_assert_eq(mountinfo_parse(buf, len, mi), 0);
	free(buf);
}

static char *ext_types[] = {"ext4", "xfs"};

static const struct inv_mount *mount_at(const struct inv_mount *m, size_t n,
					const char *mp)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i].mount_point, mp) == 0)
			return &m[i];
	return NULL;
}

/* ---- scope ------------------------------------------------------------------- */

Test(inventory, path_within_whole_components)
{
	cr_assert(inv_path_within("/srv/a", "/srv/a"));
	cr_assert(inv_path_within("/srv/a/x", "/srv/a"));
	cr_assert(inv_path_within("/srv/a/x/y", "/srv"));
	cr_assert(!inv_path_within("/srv/ab", "/srv/a"), "not a component prefix");
	cr_assert(!inv_path_within("/srv", "/srv/a"));
	cr_assert(inv_path_within("/anything", "/"));
	cr_assert(inv_path_within("/", "/"));
}

Test(inventory, scope_without_roots_takes_everything)
{
	struct inv_scope s = {.fs_types = ext_types, .n_fs_types = 2};
	cr_assert(inv_scope_has_path(&s, "/"));
	cr_assert(inv_scope_has_fstype(&s, "xfs"));
	cr_assert(!inv_scope_has_fstype(&s, "tmpfs"));
	cr_assert(!inv_scope_has_fstype(&s, "ext"), "whole names only");
}

/* ---- candidate mounts ---------------------------------------------------------- */

Test(inventory, bind_mounts_fold_into_one_device_with_aliases)
{
	struct mountinfo mi;
	load_mountinfo("basic.txt", &mi);
	struct inv_scope s = {.fs_types = ext_types, .n_fs_types = 2};
	struct inv_mount *m;
	size_t n;
	inv_select_mounts(&mi, &s, &m, &n);
	/* 7:0 "/" is mounted at /srv/disk1, /mnt/bind and /aa */
	const struct inv_mount *g = mount_at(m, n, "/aa");
	cr_assert_not_null(g, "the shortest mount point is the root");
	cr_assert_eq(g->n_aliases, 2);
	cr_assert_str_eq(g->aliases[0], "/mnt/bind");
	cr_assert_str_eq(g->aliases[1], "/srv/disk1");
	cr_assert_null(mount_at(m, n, "/srv/disk1"), "an alias is no device of its own");
	cr_assert_null(mount_at(m, n, "/mnt/bind"));
	/* the same filesystem with another root field is another candidate */
	const struct inv_mount *sub = mount_at(m, n, "/mnt/subbind");
	cr_assert_not_null(sub);
	cr_assert_str_eq(sub->fs_root, "/sub");
	cr_assert_eq(sub->n_aliases, 0);
	inv_mounts_free(m, n);
	mountinfo_free(&mi);
}

Test(inventory, candidate_choice_does_not_depend_on_table_order)
{
	const char *a = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
			"2 1 7:0 / /srv/zz rw - ext4 /dev/loop0 rw\n"
			"3 1 7:0 / /srv/b rw - ext4 /dev/loop0 rw\n"
			"4 1 7:0 / /srv/a rw - ext4 /dev/loop0 rw\n";
	const char *b = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
			"4 1 7:0 / /srv/a rw - ext4 /dev/loop0 rw\n"
			"2 1 7:0 / /srv/zz rw - ext4 /dev/loop0 rw\n"
			"3 1 7:0 / /srv/b rw - ext4 /dev/loop0 rw\n";
	char *roots[] = {"/srv"};
	struct inv_scope s = {.fs_types = ext_types, .n_fs_types = 2,
			      .roots = roots, .n_roots = 1};
	const char *texts[] = {a, b};
	for (int t = 0; t < 2; t++) {
		struct mountinfo mi;
		cr_assert_eq(mountinfo_parse(texts[t], strlen(texts[t]), &mi), 0);
		struct inv_mount *m;
		size_t n;
		inv_select_mounts(&mi, &s, &m, &n);
		cr_assert_eq(n, 1);
		cr_assert_str_eq(m[0].mount_point, "/srv/a");
		cr_assert_eq(m[0].n_aliases, 2);
		cr_assert_str_eq(m[0].aliases[0], "/srv/b");
		cr_assert_str_eq(m[0].aliases[1], "/srv/zz");
		inv_mounts_free(m, n);
		mountinfo_free(&mi);
	}
}

Test(inventory, fs_types_and_roots_limit_candidates)
{
	struct mountinfo mi;
	load_mountinfo("basic.txt", &mi);
	char *roots[] = {"/srv/a"};
	struct inv_scope s = {.fs_types = ext_types, .n_fs_types = 2,
			      .roots = roots, .n_roots = 1};
	struct inv_mount *m;
	size_t n;
	inv_select_mounts(&mi, &s, &m, &n);
	/* /srv/ab merely starts with the same text */
	cr_assert_eq(n, 2, "got %zu", n);
	cr_assert_str_eq(m[0].mount_point, "/srv/a");
	cr_assert_str_eq(m[1].mount_point, "/srv/a/x");
	cr_assert_str_eq(m[1].fstype, "xfs");
	inv_mounts_free(m, n);

	char *only_ext4[] = {"ext4"};
	struct inv_scope s2 = {.fs_types = only_ext4, .n_fs_types = 1};
	inv_select_mounts(&mi, &s2, &m, &n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_str_eq(m[i].fstype, "ext4");
		cr_assert_str_neq(m[i].mount_point, "/srv/fuse");
	}
	cr_assert_null(mount_at(m, n, "/run"), "tmpfs is not a candidate");
	inv_mounts_free(m, n);
	mountinfo_free(&mi);
}

Test(inventory, hidden_mounts_are_not_candidates)
{
	struct mountinfo mi;
	load_mountinfo("stacked.txt", &mi);
	char *roots[] = {"/srv"};
	struct inv_scope s = {.fs_types = ext_types, .n_fs_types = 2,
			      .roots = roots, .n_roots = 1};
	struct inv_mount *m;
	size_t n;
	inv_select_mounts(&mi, &s, &m, &n);
	const struct inv_mount *d = mount_at(m, n, "/srv/d");
	cr_assert_not_null(d);
	cr_assert_eq(d->minor, 1, "the mount on top (7:1), not the one below");
	cr_assert_null(mount_at(m, n, "/srv/p/child"));
	cr_assert_not_null(mount_at(m, n, "/srv/p/new"));
	cr_assert_null(mount_at(m, n, "/srv/p"), "tmpfs");
	inv_mounts_free(m, n);
	mountinfo_free(&mi);
}

/* ---- keys ---------------------------------------------------------------------- */

Test(inventory, key_prefers_wwn_then_uuid_then_path)
{
	struct inv inv;
	inv_init(&inv);
	struct inv_device *d = blockdev(&inv, "/srv/d", "1234-abcd", MARKER_DATA);
	d->udev_wwn = strdup("0x5000c500a1b2c3d4");
	d->udev_serial = strdup("ST4000_Z1Z2");
	char *k = inv_device_key(d);
	cr_assert_str_eq(k, "wwn:0x5000c500a1b2c3d4/ST4000_Z1Z2");
	free(k);
	d->partition = 2;
	k = inv_device_key(d);
	cr_assert_str_eq(k, "wwn:0x5000c500a1b2c3d4/ST4000_Z1Z2#2");
	free(k);
	free(d->udev_wwn);
	d->udev_wwn = NULL;
	k = inv_device_key(d);
	cr_assert_str_eq(k, "uuid:1234-abcd", "serial alone is never an identity");
	free(k);
	free(d->fs_uuid);
	d->fs_uuid = NULL;
	k = inv_device_key(d);
	cr_assert_str_eq(k, "path:/srv/d");
	free(k);
	inv_fini(&inv);
}

Test(inventory, directory_device_key_is_its_path)
{
	struct inv inv;
	inv_init(&inv);
	struct inv_device *d = dirdev(&inv, "/var/lib/quobyte/devices/reg", MARKER_REGISTRY);
	char *k = inv_device_key(d);
	cr_assert_str_eq(k, "path:/var/lib/quobyte/devices/reg");
	free(k);
	inv_fini(&inv);
}

Test(inventory, subdirectory_mount_key_names_the_subdirectory)
{
	struct inv inv;
	inv_init(&inv);
	struct inv_device *a = blockdev(&inv, "/srv/a", "u-1", MARKER_DATA);
	struct inv_device *b = blockdev(&inv, "/srv/b", "u-1", MARKER_DATA);
	free(b->fs_root);
	b->fs_root = strdup("/sub");
	(void)a;
	inv_finalize(&inv);
	cr_assert_eq(inv.n, 2);
	cr_assert_str_eq(find_root(&inv, "/srv/a")->key, "uuid:u-1");
	cr_assert_str_eq(find_root(&inv, "/srv/b")->key, "uuid:u-1/sub");
	cr_assert_null(find_root(&inv, "/srv/a")->conflict);
	inv_fini(&inv);
}

/* ---- finalize ------------------------------------------------------------------ */

Test(inventory, cloned_uuid_falls_back_to_path_keys_with_conflict)
{
	struct inv inv;
	inv_init(&inv);
	blockdev(&inv, "/srv/one", "same-uuid", MARKER_DATA);
	blockdev(&inv, "/srv/two", "same-uuid", MARKER_DATA);
	blockdev(&inv, "/srv/three", "other-uuid", MARKER_DATA);
	inv_finalize(&inv);
	cr_assert_eq(inv.n, 3);
	const struct inv_device *one = find_root(&inv, "/srv/one");
	const struct inv_device *two = find_root(&inv, "/srv/two");
	cr_assert_str_eq(one->key, "path:/srv/one");
	cr_assert_str_eq(two->key, "path:/srv/two");
	cr_assert_not_null(one->conflict);
	cr_assert_not_null(strstr(one->conflict, "/srv/two"), "%s", one->conflict);
	cr_assert_not_null(strstr(two->conflict, "/srv/one"), "%s", two->conflict);
	cr_assert_str_eq(find_root(&inv, "/srv/three")->key, "uuid:other-uuid");
	cr_assert_null(find_root(&inv, "/srv/three")->conflict);
	inv_fini(&inv);
}

Test(inventory, same_serial_is_a_conflict_naming_the_other_root)
{
	struct inv inv;
	inv_init(&inv);
	blockdev(&inv, "/mnt/b", "u-b", MARKER_DATA)->serial = strdup("S123");
	blockdev(&inv, "/mnt/a", "u-a", MARKER_DATA)->serial = strdup("S123");
	blockdev(&inv, "/mnt/c", "u-c", MARKER_DATA)->serial = strdup("S999");
	dirdev(&inv, "/mnt/d", MARKER_DATA);
	inv_finalize(&inv);
	cr_assert_eq(inv.n, 4, "both claimants are reported");
	cr_assert_str_eq(find_root(&inv, "/mnt/a")->conflict,
			 "serial S123 also claimed by /mnt/b");
	cr_assert_str_eq(find_root(&inv, "/mnt/b")->conflict,
			 "serial S123 also claimed by /mnt/a");
	cr_assert_null(find_root(&inv, "/mnt/c")->conflict);
	cr_assert_null(find_root(&inv, "/mnt/d")->conflict, "no serial, no conflict");
	cr_assert_str_eq(find_root(&inv, "/mnt/a")->key, "uuid:u-a",
			 "a serial conflict keeps the key");
	inv_fini(&inv);
}

Test(inventory, three_way_serial_conflict_lists_all_others)
{
	struct inv inv;
	inv_init(&inv);
	blockdev(&inv, "/m/3", "u3", MARKER_DATA)->serial = strdup("X");
	blockdev(&inv, "/m/1", "u1", MARKER_DATA)->serial = strdup("X");
	blockdev(&inv, "/m/2", "u2", MARKER_DATA)->serial = strdup("X");
	inv_finalize(&inv);
	cr_assert_str_eq(find_root(&inv, "/m/2")->conflict,
			 "serial X also claimed by /m/1, /m/3");
	inv_fini(&inv);
}

Test(inventory, directory_device_on_a_mount_root_is_the_mount_device)
{
	struct inv inv;
	inv_init(&inv);
	struct inv_device *m = blockdev(&inv, "/var/lib/q/devices/disk1", "u1", MARKER_DATA);
	m->aliases = calloc(1, sizeof(char *));
	m->aliases[0] = strdup("/srv/alias");
	m->n_aliases = 1;
	dirdev(&inv, "/var/lib/q/devices/disk1", MARKER_DATA);
	dirdev(&inv, "/srv/alias", MARKER_DATA);
	dirdev(&inv, "/var/lib/q/devices/dir2", MARKER_METADATA);
	dirdev(&inv, "/var/lib/q/devices/dir2", MARKER_METADATA);
	inv_finalize(&inv);
	cr_assert_eq(inv.n, 2, "got %zu", inv.n);
	cr_assert(!find_root(&inv, "/var/lib/q/devices/disk1")->is_directory);
	cr_assert(find_root(&inv, "/var/lib/q/devices/dir2")->is_directory);
	inv_fini(&inv);
}

Test(inventory, finalize_sorts_by_key_and_caps_device_count)
{
	struct inv inv;
	inv_init(&inv);
	for (unsigned i = 0; i < BUS_MAX_DEVICES + 6; i++) {
		char root[64];
		snprintf(root, sizeof root, "/d/%05u", BUS_MAX_DEVICES + 6 - i);
		dirdev(&inv, root, MARKER_DATA);
	}
	inv_finalize(&inv);
	cr_assert_eq(inv.n, BUS_MAX_DEVICES);
	cr_assert_eq(inv.dropped, 6);
	for (size_t i = 1; i < inv.n; i++)
		cr_assert(strcmp(inv.dev[i - 1].key, inv.dev[i].key) < 0);
	cr_assert_str_eq(inv.dev[0].key, "path:/d/00001");
	inv_fini(&inv);
}

/* ---- diff ----------------------------------------------------------------------- */

static void two_device_inv(struct inv *inv)
{
	inv_init(inv);
	blockdev(inv, "/srv/a", "ua", MARKER_DATA)->serial = strdup("SA");
	blockdev(inv, "/srv/b", "ub", MARKER_METADATA);
	inv_finalize(inv);
}

Test(inventory, identical_inventories_have_no_diff)
{
	struct inv a, b;
	two_device_inv(&a);
	two_device_inv(&b);
	struct inv_diff d;
	inv_diff(&a, &b, &d);
	cr_assert_eq(d.n, 0);
	cr_assert(!d.client_changed);
	inv_diff_free(&d);
	inv_fini(&a);
	inv_fini(&b);
}

Test(inventory, added_removed_and_changed_devices)
{
	struct inv old, cur;
	two_device_inv(&old);
	inv_init(&cur);
	blockdev(&cur, "/srv/a", "ua", MARKER_DATA | MARKER_METADATA)->serial = strdup("SA");
	blockdev(&cur, "/srv/c", "uc", MARKER_REGISTRY);
	inv_finalize(&cur);
	struct inv_diff d;
	inv_diff(&old, &cur, &d);
	cr_assert_eq(d.n, 3);
	int added = 0, removed = 0, changed = 0;
	for (size_t i = 0; i < d.n; i++) {
		switch (d.v[i].kind) {
		case INV_ADDED:
			added++;
			cr_assert_str_eq(d.v[i].cur->key, "uuid:uc");
			cr_assert_null(d.v[i].old);
			break;
		case INV_REMOVED:
			removed++;
			cr_assert_str_eq(d.v[i].old->key, "uuid:ub");
			cr_assert_null(d.v[i].cur);
			break;
		case INV_CHANGED:
			changed++;
			cr_assert_str_eq(d.v[i].cur->key, "uuid:ua");
			cr_assert_str_eq(d.v[i].fields, "types");
			break;
		}
	}
	cr_assert_eq(added + removed + changed, 3);
	cr_assert_eq(added, 1);
	cr_assert_eq(removed, 1);
	cr_assert_eq(changed, 1);
	inv_diff_free(&d);
	inv_fini(&old);
	inv_fini(&cur);
}

Test(inventory, changed_fields_are_named)
{
	struct inv old, cur;
	two_device_inv(&old);
	two_device_inv(&cur);
	struct inv_device *a = &cur.dev[0];
	cr_assert_str_eq(a->key, "uuid:ua");
	a->state = INV_STATE_ERROR;
	a->error = strdup("line 2: unknown device.type 'DATTA'");
	a->types = 0;
	a->device_id = strdup("42");
	struct inv_diff d;
	inv_diff(&old, &cur, &d);
	cr_assert_eq(d.n, 1);
	cr_assert_eq(d.v[0].kind, INV_CHANGED);
	cr_assert_str_eq(d.v[0].fields, "types,state,error,device_id");
	inv_diff_free(&d);
	inv_fini(&old);
	inv_fini(&cur);
}

Test(inventory, types_are_a_set)
{
	/* the same set written twice, in another order and spelling, is the
	 * same device: no delta */
	const char *m1 = "device.type=DATA_DEVICE\ndevice.type=METADATA_DEVICE\n";
	const char *m2 = "device.type=metadata\ndevice.type=DATA_DEVICE\n"
			 "device.type=data\n";
	struct marker a, b;
	cr_assert_eq(marker_parse(m1, strlen(m1), &a), 0);
	cr_assert_eq(marker_parse(m2, strlen(m2), &b), 0);
	struct inv old, cur;
	inv_init(&old);
	inv_init(&cur);
	blockdev(&old, "/srv/a", "ua", a.types);
	blockdev(&cur, "/srv/a", "ua", b.types);
	inv_finalize(&old);
	inv_finalize(&cur);
	struct inv_diff d;
	inv_diff(&old, &cur, &d);
	cr_assert_eq(d.n, 0);
	inv_diff_free(&d);
	/* and the published list holds each type once */
	Quobyte__Bus__Device *pb = inv_device_to_proto(&cur.dev[0]);
	cr_assert_eq(pb->n_types, 2);
	cr_assert_neq(pb->types[0], pb->types[1]);
	for (size_t i = 0; i < pb->n_types; i++)
		cr_assert(pb->types[i] == QUOBYTE__BUS__DEVICE_TYPE__DATA ||
			  pb->types[i] == QUOBYTE__BUS__DEVICE_TYPE__METADATA);
	inv_device_proto_free(pb);
	inv_fini(&old);
	inv_fini(&cur);
}

Test(inventory, small_free_space_drift_is_no_change)
{
	struct inv old, cur;
	two_device_inv(&old);
	two_device_inv(&cur);
	/* 100 GiB device: slack is 1 GiB */
	cur.dev[0].free_bytes -= 512ull << 20;
	struct inv_diff d;
	inv_diff(&old, &cur, &d);
	cr_assert_eq(d.n, 0, "half a GiB on a 100 GiB disk is noise");
	inv_diff_free(&d);
	cur.dev[0].free_bytes -= 1ull << 30;
	inv_diff(&old, &cur, &d);
	cr_assert_eq(d.n, 1);
	cr_assert_str_eq(d.v[0].fields, "free_bytes");
	inv_diff_free(&d);
	inv_fini(&old);
	inv_fini(&cur);
}

Test(inventory, keep_unchanged_lets_slow_drift_add_up)
{
	struct inv pub, scan;
	two_device_inv(&pub);
	uint64_t published = pub.dev[0].free_bytes;
	/* three rescans, each 600 MiB less free: each within the slack of
	 * the previous scan, together beyond the slack of what was published */
	for (int i = 1; i <= 3; i++) {
		two_device_inv(&scan);
		scan.dev[0].free_bytes = published - (uint64_t)i * (600ull << 20);
		struct inv_diff d;
		inv_diff(&pub, &scan, &d);
		size_t n = d.n;
		inv_diff_free(&d);
		inv_keep_unchanged(&pub, &scan);
		if (i == 1) {
			cr_assert_eq(n, 0);
			cr_assert_eq(scan.dev[0].free_bytes, published,
				     "an unchanged device keeps its published value");
		} else {
			cr_assert_eq(n, 1, "rescan %d: drift adds up", i);
			cr_assert_eq(scan.dev[0].free_bytes,
				     published - (uint64_t)i * (600ull << 20));
		}
		if (n == 0) {
			inv_fini(&scan);
			continue;
		}
		inv_fini(&pub);
		pub = scan;
		published = pub.dev[0].free_bytes;
		break;
	}
	inv_fini(&pub);
}

Test(inventory, client_mount_point_change_is_a_change)
{
	struct inv a, b;
	two_device_inv(&a);
	two_device_inv(&b);
	a.client_mount_point = strdup("/quobyte");
	b.client_mount_point = strdup("/quobyte");
	b.client_mount_point_exists = true;
	struct inv_diff d;
	inv_diff(&a, &b, &d);
	cr_assert_eq(d.n, 0);
	cr_assert(d.client_changed);
	inv_diff_free(&d);
	inv_fini(&a);
	inv_fini(&b);
}

Test(inventory, copy_is_deep_and_equal)
{
	struct inv a, b;
	two_device_inv(&a);
	a.dev[0].aliases = calloc(2, sizeof(char *));
	a.dev[0].aliases[0] = strdup("/x");
	a.dev[0].aliases[1] = strdup("/y");
	a.dev[0].n_aliases = 2;
	inv_copy(&b, &a);
	cr_assert_neq(b.dev[0].aliases[0], a.dev[0].aliases[0]);
	struct inv_diff d;
	inv_diff(&a, &b, &d);
	cr_assert_eq(d.n, 0);
	inv_diff_free(&d);
	inv_fini(&a);
	struct inv_device *x = &b.dev[0];
	cr_assert_str_eq(x->aliases[1], "/y", "the copy outlives the original");
	inv_fini(&b);
}

/* ---- views ----------------------------------------------------------------------- */

Test(inventory, delta_proto_has_upserts_removals_and_base)
{
	struct inv old, cur;
	two_device_inv(&old);
	inv_init(&cur);
	blockdev(&cur, "/srv/a", "ua", MARKER_REGISTRY)->serial = strdup("SA");
	inv_finalize(&cur);
	Quobyte__Bus__Delta *pb = inv_delta_to_proto(&old, &cur, 7);
	cr_assert(pb->has_base_generation);
	cr_assert_eq(pb->base_generation, 7);
	cr_assert_eq(pb->n_upserted, 1);
	cr_assert_str_eq(pb->upserted[0]->key, "uuid:ua");
	cr_assert_eq(pb->upserted[0]->n_types, 1);
	cr_assert_eq(pb->upserted[0]->types[0], QUOBYTE__BUS__DEVICE_TYPE__REGISTRY);
	cr_assert_eq(pb->n_removed, 1);
	cr_assert_str_eq(pb->removed[0], "uuid:ub");
	/* it packs: a valid protobuf message */
	size_t len = quobyte__bus__delta__get_packed_size(pb);
	uint8_t *buf = malloc(len);
	quobyte__bus__delta__pack(pb, buf);
	Quobyte__Bus__Delta *back = quobyte__bus__delta__unpack(NULL, len, buf);
	cr_assert_not_null(back);
	cr_assert_eq(back->n_upserted, 1);
	cr_assert_str_eq(back->upserted[0]->serial, "SA");
	quobyte__bus__delta__free_unpacked(back, NULL);
	free(buf);
	inv_delta_proto_free(pb);
	inv_fini(&old);
	inv_fini(&cur);
}

Test(inventory, json_view_has_node_devices_and_states)
{
	struct inv inv;
	inv_init(&inv);
	struct inv_device *d = blockdev(&inv, "/srv/bad", "ub", 0);
	d->state = INV_STATE_ERROR;
	d->error = strdup("binary content");
	dirdev(&inv, "/srv/dir", 0);
	inv.client_mount_point = strdup("/quobyte");
	inv_finalize(&inv);
	Quobyte__Bus__NodeIdentity node = QUOBYTE__BUS__NODE_IDENTITY__INIT;
	node.agent_id = (char *)"agent-1";
	node.hostname = (char *)"h1";
	cJSON *j = inv_to_json(&inv, &node);
	cJSON *n = cJSON_GetObjectItem(j, "node");
	cr_assert_str_eq(cJSON_GetObjectItem(n, "agent_id")->valuestring, "agent-1");
	cJSON *devs = cJSON_GetObjectItem(j, "devices");
	cr_assert_eq(cJSON_GetArraySize(devs), 2);
	bool seen_error = false, seen_notype = false;
	cJSON *it;
	cJSON_ArrayForEach(it, devs)
	{
		const char *st = cJSON_GetObjectItem(it, "state")->valuestring;
		if (strcmp(st, "error") == 0) {
			seen_error = true;
			cr_assert_str_eq(cJSON_GetObjectItem(it, "error")->valuestring,
					 "binary content");
		}
		if (strcmp(st, "no_type") == 0)
			seen_notype = true;
	}
	cr_assert(seen_error && seen_notype);
	cr_assert_str_eq(cJSON_GetObjectItem(j, "client_mount_point")->valuestring,
			 "/quobyte");
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "client_mount_point_exists")));
	cJSON_Delete(j);
	inv_fini(&inv);
}
