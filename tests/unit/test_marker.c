/* Marker parsing against the golden files in tests/data/markers, and
 * marker_read / marker_read_id / marker_legacy_types against real files in
 * a temporary directory (directories, symlinks, FIFOs, huge and unreadable
 * files included). */
#include "marker.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DATA_DIR QM_TEST_DATA "/markers/"

/* The file's bytes in a buffer of exactly its size (no NUL after it), so
 * ASan catches a parser that reads past len. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	cr_assert_geq(n, 0);
	rewind(f);
	char *buf = malloc(n ? (size_t)n : 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* ---- temporary directories ------------------------------------------------ */

static char tmpdir[64];
static int dirfd_ = -1;

static void tmp_setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/qm-test-marker-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	dirfd_ = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dirfd_, 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void tmp_teardown(void)
{
	if (dirfd_ >= 0)
		close(dirfd_);
	dirfd_ = -1;
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put_file(const char *name, const void *data, size_t len)
{
	int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0, "create %s: %s", name, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void put_text(const char *name, const char *text)
{
	put_file(name, text, strlen(text));
}

/* ---- golden files ------------------------------------------------------------ */

struct golden {
	const char *file;
	int rv;
	unsigned types;
	const char *serial;
	const char *model;
	bool bootstrap;
	unsigned unknown_keys;
	const char *error; /* substring of m.error; NULL when valid */
};

static const struct golden goldens[] = {
	{"valid.txt", 0, MARKER_DATA, "S2HRNX0H512345", "INTEL SSDSC2BB480G4", false, 0, NULL},
	{"comments.txt", 0, MARKER_REGISTRY, "5d1f0a3c-8e2b-4c11-9a77-0c2d9e4b7f10",
	 "Kubernetes-hostDir", true, 0, NULL},
	{"crlf.txt", 0, MARKER_METADATA, "WIN-SERIAL-1", "Volume", false, 0, NULL},
	{"unknown-keys.txt", 0, MARKER_DATA, "S1", "", false, 3, NULL},
	{"several-types.txt", 0, MARKER_REGISTRY | MARKER_METADATA | MARKER_DATA, "MULTI-1", "",
	 false, 0, NULL},
	{"repeated-keys-same.txt", 0, MARKER_DATA, "SAME-1", "unknown", false, 0, NULL},
	{"no-type.txt", 0, 0, "NOTYPE-1", "unknown", false, 0, NULL},
	{"empty.txt", 0, 0, "", "", false, 0, NULL},
	{"bom-no-final-newline.txt", 0, MARKER_DATA, "", "", false, 0, NULL},
	{"repeated-serial-conflict.txt", QM_EINVAL, 0, "", "", false, 0,
	 "line 3: device.serial 'SECOND-SERIAL' contradicts an earlier device.serial"},
	{"garbage.txt", QM_EINVAL, 0, "", "", false, 0, "line 3: not a key=value line"},
	{"bad-type.txt", QM_EINVAL, 0, "", "", false, 0, "line 4: unknown device.type 'DATTA'"},
	{"bad-bootstrap.txt", QM_EINVAL, 0, "", "", false, 0,
	 "line 2: device.bootstrap 'maybe' is not true or false"},
	{"binary.bin", QM_EBINARY, 0, "", "", false, 0, "binary content"},
};

static void check_golden(const struct golden *g, int rv, const struct marker *m,
			 const char *how)
{
	cr_assert_eq(rv, g->rv, "%s %s: rv %d (%s), want %d", how, g->file, rv, m->error, g->rv);
	cr_assert_eq(m->types, g->types, "%s %s: types %#x want %#x", how, g->file, m->types,
		     g->types);
	cr_assert_str_eq(m->serial, g->serial, "%s %s", how, g->file);
	cr_assert_str_eq(m->model, g->model, "%s %s", how, g->file);
	cr_assert_eq(m->bootstrap, g->bootstrap, "%s %s", how, g->file);
	cr_assert_eq(m->unknown_keys, g->unknown_keys, "%s %s", how, g->file);
	if (g->error)
		cr_assert_not_null(strstr(m->error, g->error), "%s %s: error '%s' lacks '%s'",
				   how, g->file, m->error, g->error);
	else
		cr_assert_str_eq(m->error, "", "%s %s", how, g->file);
}

Test(marker_golden, parse_each_file)
{
	for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, DATA_DIR "%s", goldens[i].file);
		size_t len;
		char *buf = slurp(path, &len);
		struct marker m;
		int rv = marker_parse(buf, len, &m);
		free(buf);
		check_golden(&goldens[i], rv, &m, "parse");
	}
}

/* The same files, installed as QUOBYTE_DEV_SETUP and read from disk. */
Test(marker_golden, read_each_file, .init = tmp_setup, .fini = tmp_teardown)
{
	for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, DATA_DIR "%s", goldens[i].file);
		size_t len;
		char *buf = slurp(path, &len);
		put_file(MARKER_FILE, buf, len);
		free(buf);
		struct marker m;
		int rv = marker_read(dirfd_, &m);
		check_golden(&goldens[i], rv, &m, "read");
	}
}

/* ---- parser rules, one at a time ------------------------------------------ */

static int parse(const char *text, struct marker *m)
{
	return marker_parse(text, strlen(text), m);
}

Test(marker_parse, blanks_around_key_and_value_are_trimmed)
{
	struct marker m;
	cr_assert_eq(parse("  device.type \t=  data \n\tdevice.serial= A B  \n", &m), 0);
	cr_assert_eq(m.types, MARKER_DATA);
	cr_assert_str_eq(m.serial, "A B");
}

Test(marker_parse, type_words_in_any_case)
{
	static const struct {
		const char *word;
		unsigned bit;
	} cases[] = {
		{"DIR_DEVICE", MARKER_REGISTRY}, {"dir_device", MARKER_REGISTRY},
		{"registry", MARKER_REGISTRY},	 {"REGISTRY", MARKER_REGISTRY},
		{"METADATA_DEVICE", MARKER_METADATA}, {"Metadata", MARKER_METADATA},
		{"DATA_DEVICE", MARKER_DATA},	 {"data", MARKER_DATA},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[64];
		snprintf(text, sizeof text, "device.type=%s\n", cases[i].word);
		struct marker m;
		cr_assert_eq(parse(text, &m), 0, "%s: %s", cases[i].word, m.error);
		cr_assert_eq(m.types, cases[i].bit, "%s", cases[i].word);
	}
}

Test(marker_parse, type_words_that_are_not_types)
{
	static const char *const bad[] = {"", "DATA DEVICE", "DATA_DEVICE,METADATA_DEVICE",
					  "DIR", "DATA_DEVICE # comment", "client"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[96];
		snprintf(text, sizeof text, "# x\ndevice.type=%s\n", bad[i]);
		struct marker m;
		cr_assert_eq(parse(text, &m), QM_EINVAL, "'%s' accepted", bad[i]);
		cr_assert_not_null(strstr(m.error, "line 2: unknown device.type"), "%s", m.error);
	}
}

Test(marker_parse, keys_are_case_sensitive_unknown_ones_counted)
{
	struct marker m;
	cr_assert_eq(parse("DEVICE.TYPE=DATA_DEVICE\ndevice.type=METADATA_DEVICE\n", &m), 0);
	cr_assert_eq(m.types, MARKER_METADATA);
	cr_assert_eq(m.unknown_keys, 1);
}

Test(marker_parse, bootstrap_values)
{
	struct marker m;
	cr_assert_eq(parse("device.bootstrap=TRUE\n", &m), 0);
	cr_assert(m.bootstrap);
	cr_assert_eq(parse("device.bootstrap=false\n", &m), 0);
	cr_assert_not(m.bootstrap);
	cr_assert_eq(parse("device.bootstrap=1\n", &m), QM_EINVAL);
	cr_assert_eq(parse("device.bootstrap=true\ndevice.bootstrap=false\n", &m), QM_EINVAL);
	cr_assert_not_null(strstr(m.error, "line 2"), "%s", m.error);
	cr_assert_not(m.bootstrap, "an invalid marker must not claim bootstrap");
}

Test(marker_parse, repeated_model_with_other_value_is_an_error)
{
	struct marker m;
	cr_assert_eq(parse("device.model=A\ndevice.type=DATA\ndevice.model=B\n", &m), QM_EINVAL);
	cr_assert_not_null(strstr(m.error, "line 3: device.model 'B'"), "%s", m.error);
	cr_assert_str_eq(m.model, "");
	cr_assert_eq(m.types, 0, "an invalid marker reports no types");
}

Test(marker_parse, value_length_limit)
{
	char text[2 * MARKER_VALUE_MAX];
	char val[MARKER_VALUE_MAX + 1];
	memset(val, 'x', MARKER_VALUE_MAX - 1);
	val[MARKER_VALUE_MAX - 1] = '\0';
	snprintf(text, sizeof text, "device.serial=%s\n", val);
	struct marker m;
	cr_assert_eq(parse(text, &m), 0, "%s", m.error);
	cr_assert_str_eq(m.serial, val);

	val[MARKER_VALUE_MAX - 1] = 'x';
	val[MARKER_VALUE_MAX] = '\0';
	snprintf(text, sizeof text, "device.serial=%s\n", val);
	cr_assert_eq(parse(text, &m), QM_EINVAL);
	cr_assert_not_null(strstr(m.error, "line 1: device.serial longer than 255 bytes"), "%s",
			   m.error);
	cr_assert_str_eq(m.serial, "");
}

/* A huge bad value is quoted only in part, so the line number survives. */
Test(marker_parse, long_bad_value_is_cut_in_the_message)
{
	char text[4096];
	int n = snprintf(text, sizeof text, "\n\n\ndevice.type=");
	memset(text + n, 'Q', 3000);
	text[n + 3000] = '\0';
	struct marker m;
	cr_assert_eq(parse(text, &m), QM_EINVAL);
	cr_assert_eq(strncmp(m.error, "line 4: unknown device.type 'QQQ", 32), 0, "%s", m.error);
	cr_assert_not_null(strstr(m.error, "...'"), "%s", m.error);
	cr_assert_lt(strlen(m.error), sizeof m.error);
}

Test(marker_parse, empty_key_and_stray_cr)
{
	struct marker m;
	cr_assert_eq(parse("device.type=DATA\n=value\n", &m), QM_EINVAL);
	cr_assert_not_null(strstr(m.error, "line 2: empty key"), "%s", m.error);
	cr_assert_eq(parse("device.type=DATA\rdevice.serial=x\n", &m), QM_EINVAL);
	cr_assert_not_null(strstr(m.error, "line 1: carriage return"), "%s", m.error);
	/* a final CR without LF still ends the line */
	cr_assert_eq(parse("device.type=DATA\r", &m), 0, "%s", m.error);
	cr_assert_eq(m.types, MARKER_DATA);
}

Test(marker_parse, control_characters_are_binary)
{
	static const char *const bad[] = {"device.type=DATA\x01\n", "\x1b[31mdevice.type=DATA\n",
					  "device.model=a\x7f\n"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct marker m;
		cr_assert_eq(parse(bad[i], &m), QM_EBINARY, "case %zu", i);
		cr_assert_not_null(strstr(m.error, "binary content"), "%s", m.error);
	}
	/* tab and UTF-8 are text */
	struct marker m;
	cr_assert_eq(parse("device.model=\tK\xc3\xb6nig\n", &m), 0, "%s", m.error);
	cr_assert_str_eq(m.model, "K\xc3\xb6nig");
}

Test(marker_parse, nul_in_the_middle_is_binary)
{
	const char text[] = "device.type=DATA_DEVICE\n\0\ndevice.serial=x\n";
	struct marker m;
	cr_assert_eq(marker_parse(text, sizeof text - 1, &m), QM_EBINARY);
	cr_assert_not_null(strstr(m.error, "offset 24"), "%s", m.error);
}

Test(marker_parse, size_limit_is_exact)
{
	/* MARKER_MAX_BYTES of comments and a type: fine; one byte more: not */
	char *buf = malloc(MARKER_MAX_BYTES + 1);
	cr_assert_not_null(buf);
	memset(buf, '#', MARKER_MAX_BYTES + 1);
	const char tail[] = "\ndevice.type=DATA\n";
	memcpy(buf + MARKER_MAX_BYTES - (sizeof tail - 1), tail, sizeof tail - 1);
	struct marker m;
	cr_assert_eq(marker_parse(buf, MARKER_MAX_BYTES, &m), 0, "%s", m.error);
	cr_assert_eq(m.types, MARKER_DATA);
	memmove(buf + 1, buf, MARKER_MAX_BYTES);
	cr_assert_eq(marker_parse(buf, MARKER_MAX_BYTES + 1, &m), QM_ETOOBIG);
	cr_assert_str_eq(m.error, "marker larger than 65536 bytes");
	free(buf);
}

Test(marker_parse, null_buffer_is_empty_marker)
{
	struct marker m;
	cr_assert_eq(marker_parse(NULL, 0, &m), 0);
	cr_assert_eq(m.types, 0);
}

/* ---- marker_read: the file system side ------------------------------------- */

TestSuite(marker_read, .init = tmp_setup, .fini = tmp_teardown, .timeout = 20);

Test(marker_read, no_marker)
{
	struct marker m;
	memset(&m, 0x55, sizeof m);
	cr_assert_eq(marker_read(dirfd_, &m), QM_ENOENT);
	cr_assert_str_eq(m.error, "");
	cr_assert_eq(m.types, 0);
}

Test(marker_read, valid_marker)
{
	put_text(MARKER_FILE, "device.serial=R1\ndevice.type=DATA_DEVICE\n");
	struct marker m;
	cr_assert_eq(marker_read(dirfd_, &m), 0, "%s", m.error);
	cr_assert_eq(m.types, MARKER_DATA);
	cr_assert_str_eq(m.serial, "R1");
}

/* 10 MB of otherwise valid text: refused as too large before it is read. */
Test(marker_read, ten_megabytes_refused)
{
	int fd = openat(dirfd_, MARKER_FILE, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	static char chunk[64 * 1024];
	memset(chunk, '#', sizeof chunk);
	chunk[sizeof chunk - 1] = '\n';
	for (int i = 0; i < 160; i++)
		cr_assert_eq(write(fd, chunk, sizeof chunk), (ssize_t)sizeof chunk);
	const char type[] = "device.type=DATA_DEVICE\n";
	cr_assert_eq(write(fd, type, sizeof type - 1), (ssize_t)(sizeof type - 1));
	close(fd);

	struct marker m;
	cr_assert_eq(marker_read(dirfd_, &m), QM_ETOOBIG);
	cr_assert_str_eq(m.error, "marker larger than 65536 bytes");
	cr_assert_eq(m.types, 0);
}

Test(marker_read, size_limit_on_disk)
{
	char *buf = malloc(MARKER_MAX_BYTES + 1);
	cr_assert_not_null(buf);
	memset(buf, ' ', MARKER_MAX_BYTES + 1);
	memcpy(buf, "device.type=DATA\n", 17);
	put_file(MARKER_FILE, buf, MARKER_MAX_BYTES);
	struct marker m;
	cr_assert_eq(marker_read(dirfd_, &m), 0, "%s", m.error);
	cr_assert_eq(m.types, MARKER_DATA);
	put_file(MARKER_FILE, buf, MARKER_MAX_BYTES + 1);
	cr_assert_eq(marker_read(dirfd_, &m), QM_ETOOBIG);
	free(buf);
}

Test(marker_read, directory_named_like_the_marker)
{
	cr_assert_eq(mkdirat(dirfd_, MARKER_FILE, 0755), 0);
	struct marker m;
	cr_assert_eq(marker_read(dirfd_, &m), QM_EIO);
	cr_assert_str_eq(m.error, "cannot read marker: it is a directory");
}

/* A symlink is not followed even when it points at a valid marker: a
 * device's marker must live on that device. */
Test(marker_read, symlink_not_followed)
{
	put_text("real-marker", "device.type=DATA_DEVICE\n");
	cr_assert_eq(symlinkat("real-marker", dirfd_, MARKER_FILE), 0);
	struct marker m;
	cr_assert_eq(marker_read(dirfd_, &m), QM_EIO);
	cr_assert_not_null(strstr(m.error, "cannot read marker: it is a symbolic link"), "%s",
			   m.error);
	cr_assert_eq(m.types, 0);
}

Test(marker_read, dangling_symlink)
{
	cr_assert_eq(symlinkat("/nonexistent/elsewhere", dirfd_, MARKER_FILE), 0);
	struct marker m;
	cr_assert_eq(marker_read(dirfd_, &m), QM_EIO);
	cr_assert_not_null(strstr(m.error, "symbolic link"), "%s", m.error);
}

/* Nobody writes into this FIFO: a reader that opened it blocking would hang
 * here until the suite's timeout kills the test. */
Test(marker_read, fifo_does_not_block)
{
	cr_assert_eq(mkfifoat(dirfd_, MARKER_FILE, 0644), 0);
	struct marker m;
	cr_assert_eq(marker_read(dirfd_, &m), QM_EIO);
	cr_assert_str_eq(m.error, "cannot read marker: it is a FIFO");
}

/* chmod 000 does not stop root, so the read happens in a child that has
 * dropped to an unprivileged user. Exit codes say what went wrong. */
Test(marker_read, unreadable_file)
{
	put_text(MARKER_FILE, "device.type=DATA_DEVICE\n");
	cr_assert_eq(fchmodat(dirfd_, MARKER_FILE, 0, 0), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(10);
		struct marker m;
		int rv = marker_read(dirfd_, &m);
		if (rv != QM_EIO)
			_exit(11);
		if (strcmp(m.error, "cannot read marker: Permission denied") != 0)
			_exit(12);
		if (m.types != 0)
			_exit(13);
		_exit(0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child failed with code %d", WEXITSTATUS(status));
}

Test(marker_read, reading_changes_nothing)
{
	const char text[] = "device.type=DATA_DEVICE\n";
	put_text(MARKER_FILE, text);
	struct stat before, after;
	cr_assert_eq(fstatat(dirfd_, MARKER_FILE, &before, 0), 0);
	struct marker m;
	cr_assert_eq(marker_read(dirfd_, &m), 0);
	cr_assert_eq(fstatat(dirfd_, MARKER_FILE, &after, 0), 0);
	cr_assert_eq(before.st_size, after.st_size);
	cr_assert_eq(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	cr_assert_eq(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	cr_assert_eq(before.st_mode, after.st_mode);
}

/* ---- QUOBYTE_DEV_ID --------------------------------------------------------- */

TestSuite(marker_id, .init = tmp_setup, .fini = tmp_teardown, .timeout = 20);

static int read_id(const char *text, char *id, size_t cap)
{
	put_text(MARKER_ID_FILE, text);
	return marker_read_id(dirfd_, id, cap);
}

Test(marker_id, absent)
{
	char id[32] = "stale";
	cr_assert_eq(marker_read_id(dirfd_, id, sizeof id), QM_ENOENT);
	cr_assert_str_eq(id, "");
}

Test(marker_id, valid_forms)
{
	char id[32];
	cr_assert_eq(read_id("device.id=42\n", id, sizeof id), 0);
	cr_assert_str_eq(id, "42");
	cr_assert_eq(read_id("# Quobyte device id\r\n device.id = 1234567 \r\n", id, sizeof id), 0);
	cr_assert_str_eq(id, "1234567");
	cr_assert_eq(read_id("device.other=x\ndevice.id=7", id, sizeof id), 0);
	cr_assert_str_eq(id, "7");
	cr_assert_eq(read_id("device.id=9\ndevice.id=9\n", id, sizeof id), 0);
	cr_assert_str_eq(id, "9");
}

Test(marker_id, invalid_forms)
{
	static const char *const bad[] = {
		"device.id=\n",		  /* empty */
		"device.id=12a\n",	  /* not digits */
		"device.id=-5\n",	  /* sign */
		"device.id=1 2\n",	  /* inner blank */
		"# nothing here\n",	  /* no device.id */
		"",			  /* empty file */
		"device.id=5\ngarbage\n", /* line without '=' */
		"device.id=5\ndevice.id=6\n", /* contradicting */
		"device.id=5\x01\n",	  /* binary */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char id[32] = "stale";
		cr_assert_eq(read_id(bad[i], id, sizeof id), QM_EINVAL, "case %zu accepted", i);
		cr_assert_str_eq(id, "", "case %zu left '%s'", i, id);
	}
}

Test(marker_id, too_long_for_the_buffer_is_not_cut)
{
	char id[4];
	cr_assert_eq(read_id("device.id=123\n", id, sizeof id), 0);
	cr_assert_str_eq(id, "123");
	cr_assert_eq(read_id("device.id=1234\n", id, sizeof id), QM_EINVAL);
	cr_assert_str_eq(id, "");
}

Test(marker_id, not_a_regular_file)
{
	char id[32];
	cr_assert_eq(mkdirat(dirfd_, MARKER_ID_FILE, 0755), 0);
	cr_assert_eq(marker_read_id(dirfd_, id, sizeof id), QM_EIO);
	cr_assert_eq(unlinkat(dirfd_, MARKER_ID_FILE, AT_REMOVEDIR), 0);
	cr_assert_eq(mkfifoat(dirfd_, MARKER_ID_FILE, 0644), 0);
	cr_assert_eq(marker_read_id(dirfd_, id, sizeof id), QM_EIO);
}

/* ---- legacy marker directories ---------------------------------------------- */

TestSuite(marker_legacy, .init = tmp_setup, .fini = tmp_teardown);

Test(marker_legacy, none)
{
	cr_assert_eq(marker_legacy_types(dirfd_), 0);
}

Test(marker_legacy, directories_map_to_types)
{
	cr_assert_eq(mkdirat(dirfd_, "quobyte-dir", 0755), 0);
	cr_assert_eq(marker_legacy_types(dirfd_), MARKER_REGISTRY);
	cr_assert_eq(mkdirat(dirfd_, "quobyte-data", 0755), 0);
	cr_assert_eq(marker_legacy_types(dirfd_), MARKER_REGISTRY | MARKER_DATA);
	cr_assert_eq(mkdirat(dirfd_, "quobyte-metadata", 0755), 0);
	cr_assert_eq(marker_legacy_types(dirfd_), MARKER_REGISTRY | MARKER_DATA | MARKER_METADATA);
}

Test(marker_legacy, only_real_directories_count)
{
	put_text("quobyte-data", "not a directory");
	cr_assert_eq(mkdirat(dirfd_, "elsewhere", 0755), 0);
	cr_assert_eq(symlinkat("elsewhere", dirfd_, "quobyte-metadata"), 0);
	cr_assert_eq(marker_legacy_types(dirfd_), 0);
}

/* ---- names ------------------------------------------------------------------- */

Test(marker_names, type_and_service_names)
{
	cr_assert_str_eq(marker_type_name(MARKER_REGISTRY), "DIR_DEVICE");
	cr_assert_str_eq(marker_type_name(MARKER_METADATA), "METADATA_DEVICE");
	cr_assert_str_eq(marker_type_name(MARKER_DATA), "DATA_DEVICE");
	cr_assert_str_eq(marker_type_name(MARKER_DATA | MARKER_REGISTRY), "?");
	cr_assert_str_eq(marker_type_name(0), "?");
	cr_assert_str_eq(marker_service_name(MARKER_REGISTRY), "registry");
	cr_assert_str_eq(marker_service_name(MARKER_METADATA), "metadata");
	cr_assert_str_eq(marker_service_name(MARKER_DATA), "data");
	cr_assert_str_eq(marker_service_name(8), "?");
}
