#include "marker.h"

#include "qm_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- lines ------------------------------------------------------------- */

/* One logical line of a marker-style file, split into trimmed key and
 * value. Pointers point into the caller's buffer; nothing is NUL-terminated. */
struct kv {
	const char *key;
	size_t keylen;
	const char *val;
	size_t vallen;
};

enum line_kind { LINE_SKIP, LINE_KV, LINE_NO_EQ, LINE_EMPTY_KEY, LINE_STRAY_CR };

static int blank(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **p, size_t *n)
{
	while (*n && blank(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && blank((*p)[*n - 1]))
		(*n)--;
}

static enum line_kind classify(const char *line, size_t n, struct kv *kv)
{
	/* CRLF: the CR belongs to the line ending; any other CR is damage
	 * (or an old-Mac file) that would otherwise end up inside a value */
	if (n && line[n - 1] == '\r')
		n--;
	if (memchr(line, '\r', n))
		return LINE_STRAY_CR;
	trim(&line, &n);
	if (n == 0 || line[0] == '#')
		return LINE_SKIP;
	const char *eq = memchr(line, '=', n);
	if (!eq)
		return LINE_NO_EQ;
	kv->key = line;
	kv->keylen = (size_t)(eq - line);
	kv->val = eq + 1;
	kv->vallen = n - kv->keylen - 1;
	trim(&kv->key, &kv->keylen);
	trim(&kv->val, &kv->vallen);
	return kv->keylen ? LINE_KV : LINE_EMPTY_KEY;
}

static int key_is(const struct kv *kv, const char *name)
{
	size_t n = strlen(name);
	return kv->keylen == n && memcmp(kv->key, name, n) == 0;
}

static int val_is_ci(const struct kv *kv, const char *word)
{
	size_t n = strlen(word);
	return kv->vallen == n && strncasecmp(kv->val, word, n) == 0;
}

/* Reject NUL and control bytes other than \t \r \n (and DEL): such a file
 * is not a marker someone wrote, and its bytes must not reach logs. Returns
 * the offset of the first bad byte, or len. */
static size_t find_binary(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
			return i;
	}
	return len;
}

/* Windows editors like to start a text file with a UTF-8 byte order mark;
 * it is not part of the first key. */
static void skip_bom(const char **buf, size_t *len)
{
	if (*len >= 3 && memcmp(*buf, "\xef\xbb\xbf", 3) == 0) {
		*buf += 3;
		*len -= 3;
	}
}

/* ---- marker_parse ------------------------------------------------------- */

static int fail(struct marker *m, int rv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record the error and drop whatever was parsed: a caller must not act on a
 * half-read marker. */
static int fail(struct marker *m, int rv, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->error, sizeof m->error, fmt, ap);
	va_end(ap);
	m->types = 0;
	m->serial[0] = '\0';
	m->model[0] = '\0';
	m->bootstrap = false;
	m->unknown_keys = 0;
	return rv;
}

/* Values quoted in error messages are cut so the line number and the key
 * always fit m->error. */
#define QVAL_MAX 48
#define QVAL(kv) (int)((kv)->vallen > QVAL_MAX ? QVAL_MAX : (kv)->vallen), (kv)->val, \
		 ((kv)->vallen > QVAL_MAX ? "..." : "")

static const struct {
	const char *word;
	unsigned bit;
} type_words[] = {
	{"DIR_DEVICE", MARKER_REGISTRY},	{"REGISTRY", MARKER_REGISTRY},
	{"METADATA_DEVICE", MARKER_METADATA}, {"METADATA", MARKER_METADATA},
	{"DATA_DEVICE", MARKER_DATA},		{"DATA", MARKER_DATA},
};

/* device.serial / device.model: the first value is kept; a repeat must say
 * the same, since two different serials leave the identity ambiguous. */
static int set_string(struct marker *m, char *field, bool *seen, unsigned lineno,
		      const char *key, const struct kv *kv)
{
	if (kv->vallen >= MARKER_VALUE_MAX)
		return fail(m, QM_EINVAL, "line %u: %s longer than %d bytes", lineno,
			    key, MARKER_VALUE_MAX - 1);
	if (*seen) {
		if (strlen(field) != kv->vallen || memcmp(field, kv->val, kv->vallen) != 0)
			return fail(m, QM_EINVAL, "line %u: %s '%.*s%s' contradicts an earlier %s",
				    lineno, key, QVAL(kv), key);
		return 0;
	}
	memcpy(field, kv->val, kv->vallen);
	field[kv->vallen] = '\0';
	*seen = true;
	return 0;
}

int marker_parse(const char *buf, size_t len, struct marker *m)
{
	memset(m, 0, sizeof *m);
	if (len > MARKER_MAX_BYTES)
		return fail(m, QM_ETOOBIG, "marker larger than %d bytes", MARKER_MAX_BYTES);
	if (!buf) {
		buf = "";
		len = 0;
	}
	size_t bad = find_binary(buf, len);
	if (bad < len)
		return fail(m, QM_EBINARY, "binary content: byte 0x%02x at offset %zu",
			    (unsigned char)buf[bad], bad);
	skip_bom(&buf, &len);

	bool seen_serial = false, seen_model = false, seen_bootstrap = false;
	unsigned lineno = 0;
	const char *end = buf + len;
	for (const char *p = buf; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p;
		p += n + (nl ? 1 : 0);
		lineno++;

		struct kv kv;
		switch (classify(line, n, &kv)) {
		case LINE_SKIP:
			continue;
		case LINE_NO_EQ:
			return fail(m, QM_EINVAL, "line %u: not a key=value line", lineno);
		case LINE_EMPTY_KEY:
			return fail(m, QM_EINVAL, "line %u: empty key", lineno);
		case LINE_STRAY_CR:
			return fail(m, QM_EINVAL, "line %u: carriage return inside the line",
				    lineno);
		case LINE_KV:
			break;
		}

		int rv = 0;
		if (key_is(&kv, "device.type")) {
			unsigned bit = 0;
			for (size_t i = 0; i < sizeof type_words / sizeof type_words[0]; i++)
				if (val_is_ci(&kv, type_words[i].word))
					bit = type_words[i].bit;
			if (!bit)
				return fail(m, QM_EINVAL, "line %u: unknown device.type '%.*s%s'",
					    lineno, QVAL(&kv));
			m->types |= bit;
		} else if (key_is(&kv, "device.serial")) {
			rv = set_string(m, m->serial, &seen_serial, lineno, "device.serial", &kv);
		} else if (key_is(&kv, "device.model")) {
			rv = set_string(m, m->model, &seen_model, lineno, "device.model", &kv);
		} else if (key_is(&kv, "device.bootstrap")) {
			bool v;
			if (val_is_ci(&kv, "true"))
				v = true;
			else if (val_is_ci(&kv, "false"))
				v = false;
			else
				return fail(m, QM_EINVAL, "line %u: device.bootstrap "
					    "'%.*s%s' is not true or false", lineno, QVAL(&kv));
			/* a second registry bootstrapping splits the cluster:
			 * contradicting lines are not guessed away */
			if (seen_bootstrap && v != m->bootstrap)
				return fail(m, QM_EINVAL,
					    "line %u: device.bootstrap contradicts an earlier line",
					    lineno);
			m->bootstrap = v;
			seen_bootstrap = true;
		} else {
			m->unknown_keys++;
		}
		if (rv)
			return rv;
	}
	return 0;
}

/* ---- files -------------------------------------------------------------- */

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISLNK(mode))
		return "a symbolic link (not followed)";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISCHR(mode))
		return "a character device";
	return "not a regular file";
}

/* Read a small regular file `name` in dirfd into a new buffer holding at
 * most cap + 1 bytes (one more than allowed, so "too big" is seen without
 * reading further). Never opens anything but a regular file: fstatat looks
 * first, so FIFOs cannot block and device nodes are never opened (opening
 * some has side effects); the fstat after open closes the race. Returns 0,
 * QM_ENOENT, QM_ETOOBIG, or QM_EIO with why set. */
static int read_small(int dirfd, const char *name, const char *label, size_t cap, char **out,
		      size_t *outlen, char *why, size_t whylen)
{
	struct stat st;
	*out = NULL;
	*outlen = 0;
	why[0] = '\0';
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return QM_ENOENT;
		snprintf(why, whylen, "cannot read %s: %s", label, strerror(errno));
		return QM_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "cannot read %s: it is %s", label, file_kind(st.st_mode));
		return QM_EIO;
	}
	if (st.st_size > (off_t)cap) {
		snprintf(why, whylen, "%s larger than %zu bytes", label, cap);
		return QM_ETOOBIG;
	}
	int fd = openat(dirfd, name,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return QM_ENOENT; /* removed since fstatat */
		if (e == ELOOP)
			snprintf(why, whylen, "cannot read %s: it is %s", label,
				 file_kind(S_IFLNK));
		else
			snprintf(why, whylen, "cannot read %s: %s", label, strerror(e));
		return QM_EIO;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(why, whylen, "cannot read %s: %s", label, strerror(errno));
		close(fd);
		return QM_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "cannot read %s: it is %s", label, file_kind(st.st_mode));
		close(fd);
		return QM_EIO;
	}
	char *buf = qm_malloc(cap + 1);
	size_t len = 0;
	while (len < cap + 1) {
		ssize_t r = read(fd, buf + len, cap + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whylen, "cannot read %s: %s", label, strerror(errno));
			close(fd);
			free(buf);
			return QM_EIO;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > cap) {
		/* grew since fstat, or a file system without sizes */
		free(buf);
		snprintf(why, whylen, "%s larger than %zu bytes", label, cap);
		return QM_ETOOBIG;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int marker_read(int dirfd, struct marker *m)
{
	char *buf;
	size_t len;
	char why[sizeof m->error];
	int rv = read_small(dirfd, MARKER_FILE, "marker", MARKER_MAX_BYTES, &buf, &len, why,
			    sizeof why);
	if (rv) {
		memset(m, 0, sizeof *m);
		if (rv != QM_ENOENT)
			memcpy(m->error, why, sizeof m->error);
		return rv;
	}
	rv = marker_parse(buf, len, m);
	free(buf);
	return rv;
}

static int all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

int marker_read_id(int dirfd, char *id, size_t cap)
{
	char *buf;
	size_t len;
	char why[MARKER_VALUE_MAX];
	if (cap)
		id[0] = '\0';
	int rv = read_small(dirfd, MARKER_ID_FILE, MARKER_ID_FILE, MARKER_MAX_BYTES, &buf,
			    &len, why, sizeof why);
	if (rv)
		return rv;

	const char *text = buf;
	rv = QM_EINVAL;
	if (find_binary(text, len) < len)
		goto out;
	skip_bom(&text, &len);
	bool found = false;
	const char *end = text + len;
	for (const char *p = text; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p;
		p += n + (nl ? 1 : 0);
		struct kv kv;
		enum line_kind k = classify(line, n, &kv);
		if (k == LINE_SKIP)
			continue;
		if (k != LINE_KV)
			goto out;
		if (!key_is(&kv, "device.id"))
			continue;
		if (!all_digits(kv.val, kv.vallen) || kv.vallen >= cap)
			goto out;
		if (found && (strlen(id) != kv.vallen || memcmp(id, kv.val, kv.vallen) != 0))
			goto out;
		memcpy(id, kv.val, kv.vallen);
		id[kv.vallen] = '\0';
		found = true;
	}
	if (found)
		rv = 0;
out:
	if (rv && cap)
		id[0] = '\0';
	free(buf);
	return rv;
}

unsigned marker_legacy_types(int dirfd)
{
	static const struct {
		const char *name;
		unsigned bit;
	} dirs[] = {
		{"quobyte-dir", MARKER_REGISTRY},
		{"quobyte-metadata", MARKER_METADATA},
		{"quobyte-data", MARKER_DATA},
	};
	unsigned types = 0;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		struct stat st;
		if (fstatat(dirfd, dirs[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))
			types |= dirs[i].bit;
	}
	return types;
}

const char *marker_type_name(unsigned bit)
{
	switch (bit) {
	case MARKER_REGISTRY: return "DIR_DEVICE";
	case MARKER_METADATA: return "METADATA_DEVICE";
	case MARKER_DATA: return "DATA_DEVICE";
	default: return "?";
	}
}

const char *marker_service_name(unsigned bit)
{
	switch (bit) {
	case MARKER_REGISTRY: return "registry";
	case MARKER_METADATA: return "metadata";
	case MARKER_DATA: return "data";
	default: return "?";
	}
}
