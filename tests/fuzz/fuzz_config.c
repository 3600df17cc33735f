/* Command-line parsing: argv words (NUL-separated in the input) against a
 * table with every option type, and the duration and list helpers. */
#include "config.h"
#include "fuzz_common.h"
#include "qm_error.h"

#include <stddef.h>
#include <stdint.h>

struct opts {
	char *str;
	long long count;
	bool flag;
	long long wait;
	char *list;
};

static const char *no_comma(const char *v)
{
	return strchr(v, ',') ? "no commas" : NULL;
}

#define OFF(f) offsetof(struct opts, f)
static const struct config_opt TABLE[] = {
	{"str", NULL, CONFIG_STR, OFF(str), NULL, 1, 0, "TEXT", "a string", no_comma},
	{"count", NULL, CONFIG_INT, OFF(count), "3", 1, 100, "N", "a number", NULL},
	{"flag", NULL, CONFIG_BOOL, OFF(flag), "false", 1, 0, NULL, "a switch", NULL},
	{"wait", NULL, CONFIG_DURATION, OFF(wait), "5s", 0, 3600 * 1000, "DURATION",
	 "a duration", NULL},
	{"list", NULL, CONFIG_LIST, OFF(list), NULL, 1, 0, "A[,B...]", "a list", NULL},
};
#define NOPTS (sizeof TABLE / sizeof TABLE[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *buf = fuzz_cstr(data, size);
	char *argv[66];
	int argc = 0;
	argv[argc++] = (char *)"fuzz";
	for (char *p = buf; p < buf + size && argc < 65; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	struct opts o;
	memset(&o, 0, sizeof o);
	bool help = false;
	char err[256];
	err[0] = '\0';
	int r = config_parse(TABLE, NOPTS, &o, argc, argv, &help, err, sizeof err);
	FUZZ_CHECK(FUZZ_TERMINATED(err));
	if (r != 0) {
		FUZZ_CHECK(r == QM_EINVAL && err[0]);
	} else if (!help) {
		FUZZ_CHECK(o.count >= 1 && o.count <= 100);
		FUZZ_CHECK(o.wait >= 0 && o.wait <= 3600 * 1000);
		FUZZ_CHECK(!o.str || !strchr(o.str, ','));
		const char *cur = o.list;
		char item[64];
		size_t items = 0;
		while (config_list_next(&cur, item, sizeof item)) {
			FUZZ_CHECK(FUZZ_TERMINATED(item) && item[0]);
			FUZZ_CHECK(++items <= size + 1);
		}
	}
	config_free(TABLE, NOPTS, &o);
	long long ms = -1;
	if (config_parse_duration(buf, &ms) == 0)
		FUZZ_CHECK(ms >= 0);
	free(buf);
	return 0;
}
