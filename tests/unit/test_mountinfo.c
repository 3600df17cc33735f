/* The mountinfo parser on sample tables (tests/data/mountinfo/): what the
 * prober believes is mounted where. */
#include "mountinfo.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/mountinfo/%s", QM_TEST_DATA, name);
	int fd = open(path, O_RDONLY);
	cr_assert(fd >= 0, "cannot open %s", path);
	char *buf = NULL;
	cr_assert_eq(mountinfo_read_fd(fd, &buf, len), 0);
	close(fd);
	return buf;
}

static void parse_file(const char *name, struct mountinfo *mi)
{
	size_t len;
	char *buf = slurp(name, &len);
	cr_assert_eq(mountinfo_parse(buf, len, mi), 0);
	free(buf);
}

static const struct mountinfo_entry *by_mp(const struct mountinfo *mi, const char *mp)
{
	for (size_t i = 0; i < mi->n; i++)
		if (strcmp(mi->v[i].mount_point, mp) == 0)
			return &mi->v[i];
	return NULL;
}

static size_t index_of(const struct mountinfo *mi, unsigned id)
{
	long i = mountinfo_find_id(mi, id);
	cr_assert(i >= 0, "mount id %u not found", id);
	return (size_t)i;
}

Test(mountinfo, basic_table_fields)
{
	struct mountinfo mi;
	parse_file("basic.txt", &mi);
	cr_assert_eq(mi.n, 16);
	cr_assert_eq(mi.bad_lines, 0);
	cr_assert(!mi.truncated);

	const struct mountinfo_entry *e = by_mp(&mi, "/srv/disk2");
	cr_assert_not_null(e);
	cr_assert_eq(e->mount_id, 41);
	cr_assert_eq(e->parent_id, 28);
	cr_assert_eq(e->major, 7);
	cr_assert_eq(e->minor, 1);
	cr_assert_str_eq(e->root, "/");
	cr_assert_str_eq(e->fstype, "xfs");
	cr_assert_str_eq(e->source, "/dev/loop1");
	cr_assert(!e->read_only);

	e = by_mp(&mi, "/");
	cr_assert_not_null(e);
	cr_assert_eq(e->major, 254);
	cr_assert_str_eq(e->source, "/dev/vda1");

	e = by_mp(&mi, "/mnt/subbind");
	cr_assert_not_null(e);
	cr_assert_str_eq(e->root, "/sub", "the root field of a subdirectory bind");
	mountinfo_free(&mi);
}

Test(mountinfo, optional_fields_do_not_shift_the_rest)
{
	struct mountinfo mi;
	parse_file("basic.txt", &mi);
	/* shared:30 master:4 propagate_from:2 unbindable before " - " */
	const struct mountinfo_entry *e = by_mp(&mi, "/srv/ab");
	cr_assert_not_null(e);
	cr_assert_str_eq(e->fstype, "ext4");
	cr_assert_str_eq(e->source, "/dev/sdb1");
	cr_assert_eq(e->major, 8);
	cr_assert_eq(e->minor, 17);
	/* and no optional field at all */
	e = by_mp(&mi, "/srv/a/x");
	cr_assert_not_null(e);
	cr_assert_str_eq(e->fstype, "xfs");
	mountinfo_free(&mi);
}

Test(mountinfo, shared_peers_and_the_mount_holding_a_path)
{
	static const char text[] =
		"1 0 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n"
		"2 1 8:2 / /srv rw master:3 - ext4 /dev/sda2 rw\n"
		"3 2 8:3 / /srv/quobyte rw shared:7 master:3 - xfs /dev/sdb rw\n"
		"4 1 8:4 / /srvx rw - ext4 /dev/sdc rw\n";
	struct mountinfo mi;
	cr_assert_eq(mountinfo_parse(text, sizeof text - 1, &mi), 0);
	cr_assert(mi.v[0].shared);
	cr_assert_not(mi.v[1].shared, "master: alone is a slave, not a peer");
	cr_assert(mi.v[2].shared);
	cr_assert_eq(mountinfo_find_path(&mi, "/srv/quobyte/disk1"), 2);
	cr_assert_eq(mountinfo_find_path(&mi, "/srv/quobyte"), 2);
	cr_assert_eq(mountinfo_find_path(&mi, "/srv/quobytex"), 1, "a path prefix is no mount");
	cr_assert_eq(mountinfo_find_path(&mi, "/srvx/a"), 3);
	cr_assert_eq(mountinfo_find_path(&mi, "/var/lib"), 0);
	mountinfo_free(&mi);
}

Test(mountinfo, octal_escapes_are_decoded)
{
	struct mountinfo mi;
	parse_file("basic.txt", &mi);
	const struct mountinfo_entry *e = by_mp(&mi, "/mnt/with space");
	cr_assert_not_null(e, "\\040 must become a space");
	cr_assert(e->read_only, "per-mount option ro");
	cr_assert_not_null(by_mp(&mi, "/back\\slash\ttab"), "\\134 and \\011");
	e = by_mp(&mi, "/srv/fuse");
	cr_assert_not_null(e);
	cr_assert_str_eq(e->fstype, "fuse.sshfs");
	cr_assert_str_eq(e->source, "user@host:/path x");
	mountinfo_free(&mi);
}

Test(mountinfo, unescape_rules)
{
	char *s = mountinfo_unescape("a\\040b\\012c\\134", 15);
	cr_assert_str_eq(s, "a b\nc\\");
	free(s);
	/* not three octal digits: kept as written */
	s = mountinfo_unescape("x\\9y\\04", 7);
	cr_assert_str_eq(s, "x\\9y\\04");
	free(s);
	/* above \377 is not an escape */
	s = mountinfo_unescape("\\400", 4);
	cr_assert_str_eq(s, "\\400");
	free(s);
	cr_assert_null(mountinfo_unescape("a\\000b", 6), "NUL cannot be in a path");
}

Test(mountinfo, garbage_lines_are_skipped_and_counted)
{
	struct mountinfo mi;
	parse_file("garbage.txt", &mi);
	cr_assert_eq(mi.n, 3, "only the three valid lines survive, got %zu", mi.n);
	cr_assert_eq(mi.bad_lines, 9, "got %zu", mi.bad_lines);
	cr_assert_eq(mi.first_bad_line, 2);
	cr_assert_not_null(by_mp(&mi, "/"));
	cr_assert_not_null(by_mp(&mi, "/srv/ok\\9"), "an invalid escape is kept");
	const struct mountinfo_entry *last = by_mp(&mi, "/srv/last");
	cr_assert_not_null(last, "a last line without newline is still a line");
	cr_assert_str_eq(last->fstype, "xfs");
	cr_assert_null(by_mp(&mi, "/srv/big"), "ids beyond 32 bits are garbage");
	mountinfo_free(&mi);
}

Test(mountinfo, empty_and_blank_input)
{
	struct mountinfo mi;
	cr_assert_eq(mountinfo_parse("", 0, &mi), 0);
	cr_assert_eq(mi.n, 0);
	mountinfo_free(&mi);
	cr_assert_eq(mountinfo_parse("\n\n\n", 3, &mi), 0);
	cr_assert_eq(mi.n, 0);
	cr_assert_eq(mi.bad_lines, 0);
	mountinfo_free(&mi);
}

Test(mountinfo, overlong_line_is_garbage)
{
	size_t n = MOUNTINFO_MAX_LINE + 100;
	char *buf = malloc(n + 64);
	int h = snprintf(buf, 64, "40 28 7:0 / /");
	memset(buf + h, 'a', n - (size_t)h);
	const char *tail = " rw - ext4 /dev/loop0 rw\n1 0 8:1 / / rw - ext4 /dev/sda1 rw\n";
	memcpy(buf + n, tail, strlen(tail));
	struct mountinfo mi;
	cr_assert_eq(mountinfo_parse(buf, n + strlen(tail), &mi), 0);
	cr_assert_eq(mi.n, 1);
	cr_assert_eq(mi.bad_lines, 1);
	cr_assert_str_eq(mi.v[0].mount_point, "/");
	mountinfo_free(&mi);
	free(buf);
}

Test(mountinfo, entry_cap_sets_truncated)
{
	size_t n = MOUNTINFO_MAX_ENTRIES + 5;
	size_t cap = n * 48;
	char *buf = malloc(cap);
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%zu 1 7:0 / /m%zu rw - ext4 x rw\n",
				      i + 2, i);
	struct mountinfo mi;
	cr_assert_eq(mountinfo_parse(buf, o, &mi), 0);
	cr_assert_eq(mi.n, MOUNTINFO_MAX_ENTRIES);
	cr_assert(mi.truncated);
	mountinfo_free(&mi);
	free(buf);
}

Test(mountinfo, oversized_text_is_refused)
{
	size_t n = (size_t)MOUNTINFO_MAX_BYTES + 1;
	char *buf = calloc(1, n);
	cr_assert_not_null(buf);
	struct mountinfo mi;
	cr_assert_eq(mountinfo_parse(buf, n, &mi), QM_ETOOBIG);
	cr_assert_eq(mi.n, 0);
	mountinfo_free(&mi);
	free(buf);
}

Test(mountinfo, find_by_id)
{
	struct mountinfo mi;
	parse_file("basic.txt", &mi);
	size_t i = index_of(&mi, 47);
	cr_assert_str_eq(mi.v[i].mount_point, "/srv/a");
	cr_assert_eq(mountinfo_find_id(&mi, 12345), -1);
	mountinfo_free(&mi);
}

Test(mountinfo, stacked_mount_hides_the_one_below)
{
	struct mountinfo mi;
	parse_file("stacked.txt", &mi);
	cr_assert(!mountinfo_visible(&mi, index_of(&mi, 10)),
		  "10 has 11 mounted on top at the same path");
	cr_assert(mountinfo_visible(&mi, index_of(&mi, 11)));
	mountinfo_free(&mi);
}

Test(mountinfo, mount_over_parent_path_hides_earlier_child)
{
	struct mountinfo mi;
	parse_file("stacked.txt", &mi);
	cr_assert(!mountinfo_visible(&mi, index_of(&mi, 12)),
		  "/srv/p/child is under the later /srv/p mount");
	cr_assert(mountinfo_visible(&mi, index_of(&mi, 13)));
	cr_assert(mountinfo_visible(&mi, index_of(&mi, 14)),
		  "a mount inside the covering mount is visible");
	cr_assert(mountinfo_visible(&mi, index_of(&mi, 15)));
	cr_assert(mountinfo_visible(&mi, index_of(&mi, 16)),
		  "a child mounted after its parent is visible");
	cr_assert(mountinfo_visible(&mi, index_of(&mi, 1)));
	mountinfo_free(&mi);
}

Test(mountinfo, bind_mounts_are_all_visible)
{
	struct mountinfo mi;
	parse_file("basic.txt", &mi);
	for (size_t i = 0; i < mi.n; i++)
		cr_assert(mountinfo_visible(&mi, i), "%s should be visible",
			  mi.v[i].mount_point);
	mountinfo_free(&mi);
}

Test(mountinfo, parent_cycle_terminates)
{
	/* a corrupt table: 5 and 6 are each other's parent */
	const char *t = "5 6 7:0 / /a rw - ext4 x rw\n"
			"6 5 7:1 / /a/b rw - ext4 y rw\n"
			"7 7 7:2 / /c rw - ext4 z rw\n"
			"8 99 7:3 / / rw - ext4 r rw\n";
	struct mountinfo mi;
	cr_assert_eq(mountinfo_parse(t, strlen(t), &mi), 0);
	cr_assert_eq(mi.n, 4);
	/* walking 5's parents for mount 8 goes round the cycle: it must end,
	 * and 8 is not found among them */
	cr_assert(!mountinfo_visible(&mi, index_of(&mi, 5)));
	cr_assert(!mountinfo_visible(&mi, index_of(&mi, 7)));
	cr_assert(mountinfo_visible(&mi, index_of(&mi, 8)));
	mountinfo_free(&mi);
}

Test(mountinfo, read_fd_rereads_from_offset_zero)
{
	char path[512];
	snprintf(path, sizeof path, "%s/mountinfo/basic.txt", QM_TEST_DATA);
	int fd = open(path, O_RDONLY);
	cr_assert(fd >= 0);
	char *a, *b;
	size_t la, lb;
	cr_assert_eq(mountinfo_read_fd(fd, &a, &la), 0);
	cr_assert_eq(mountinfo_read_fd(fd, &b, &lb), 0, "second read at EOF offset");
	cr_assert_eq(la, lb);
	cr_assert(la > 0);
	cr_assert_eq(memcmp(a, b, la), 0);
	cr_assert_eq(a[la], '\0');
	free(a);
	free(b);
	close(fd);
}

Test(mountinfo, live_table_of_this_process)
{
	int fd = open("/proc/self/mountinfo", O_RDONLY);
	cr_assert(fd >= 0);
	char *buf;
	size_t len;
	cr_assert_eq(mountinfo_read_fd(fd, &buf, &len), 0);
	close(fd);
	struct mountinfo mi;
	cr_assert_eq(mountinfo_parse(buf, len, &mi), 0);
	cr_assert(mi.n > 0);
	cr_assert_eq(mi.bad_lines, 0, "the kernel's own table parses cleanly");
	bool root = false;
	for (size_t i = 0; i < mi.n; i++)
		root |= strcmp(mi.v[i].mount_point, "/") == 0;
	cr_assert(root, "some mount is at /");
	mountinfo_free(&mi);
	free(buf);
}
