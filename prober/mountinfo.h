/* Parser for the kernel's /proc/<pid>/mountinfo text (proc(5)):
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2) (3)  (4)   (5)      (6)       (7)   (8) (9)    (10)        (11)
 *
 * mount id, parent id, major:minor, root of the mount inside its filesystem,
 * mount point, per-mount options, zero or more optional fields ended by a
 * lone "-", filesystem type, mount source, super-block options. The kernel
 * escapes space, tab, newline and backslash in the path-like fields as
 * three-digit octal (\040, \011, \012, \134).
 *
 * The parser is pure (no I/O, no globals) so it is tested on sample files.
 * Malformed lines are skipped and counted, never fatal: one strange entry
 * (a FUSE source with odd bytes, a truncated read) must not hide every other
 * mount. Every input is capped: MOUNTINFO_MAX_BYTES of text, at most
 * MOUNTINFO_MAX_ENTRIES entries, MOUNTINFO_MAX_LINE bytes per line. */
#ifndef QM_MOUNTINFO_H
#define QM_MOUNTINFO_H

#include <stdbool.h>
#include <stddef.h>

#define MOUNTINFO_MAX_BYTES (64u << 20)
#define MOUNTINFO_MAX_ENTRIES 100000u
/* Four path-like fields of up to PATH_MAX bytes each, escaped (x4). */
#define MOUNTINFO_MAX_LINE (80u * 1024u)

struct mountinfo_entry {
	unsigned mount_id;
	unsigned parent_id;
	unsigned major, minor;
	char *root;        /* path inside the filesystem ("/" = whole fs) */
	char *mount_point; /* unescaped, absolute */
	char *fstype;      /* "ext4", "fuse.sshfs" */
	char *source;      /* mount source as given to mount(2): "/dev/sdb1" */
	bool read_only;    /* per-mount option "ro" */
	bool shared;       /* optional field "shared:N": a propagation peer */
};

struct mountinfo {
	struct mountinfo_entry *v; /* in file order */
	size_t n;
	size_t bad_lines;      /* malformed lines skipped */
	size_t first_bad_line; /* 1-based line number of the first, 0 = none */
	bool truncated;        /* the entry cap was reached */
	/* private: indexes of v sorted by mount_id, for parent lookups */
	size_t *by_id;
};

/* Parse len bytes of mountinfo text into *out (zeroed first; the caller
 * frees it with mountinfo_free even on error). Returns 0, or QM_ETOOBIG when
 * len exceeds MOUNTINFO_MAX_BYTES (nothing parsed). Malformed lines are
 * counted in bad_lines, not errors. Pure; no allocation failure path (OOM
 * aborts). */
int mountinfo_parse(const char *buf, size_t len, struct mountinfo *out);

void mountinfo_free(struct mountinfo *mi);

/* The entry whose mount point holds path (the longest matching mount point;
 * the last one mounted there), or -1. Pure. */
long mountinfo_find_path(const struct mountinfo *mi, const char *path);

/* Index of the entry with this mount id, or -1. O(log n). */
long mountinfo_find_id(const struct mountinfo *mi, unsigned mount_id);

/* Is entry i reachable through its mount point path? False when another
 * mount sits on the same path on top of it, or covers a directory above it
 * without being one of its ancestors (mounted later over a parent path).
 * Such a hidden mount would otherwise be probed through its path and be
 * mistaken for the mount on top. Pure; O(n * depth). */
bool mountinfo_visible(const struct mountinfo *mi, size_t i);

/* Read a whole mountinfo file from an open fd, from offset 0 (the fd stays
 * usable for poll()). *buf is malloc'd (NUL-terminated), caller frees.
 * Blocking read of a procfs file. 0, QM_EIO (errno kept), QM_ETOOBIG. */
int mountinfo_read_fd(int fd, char **buf, size_t *len);

/* Unescape the kernel's \ooo escapes of src[0..len) into a new string.
 * Returns NULL when the text decodes to a NUL byte. Exposed for tests. */
char *mountinfo_unescape(const char *src, size_t len);

#endif
