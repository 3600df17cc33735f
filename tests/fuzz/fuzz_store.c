/* store_state_from_json: the coordinator's state as read back from its
 * file or from ZooKeeper. What parses must serialise and parse again to the
 * same text (nothing accepted that the store could not write).
 *
 * An input with a NUL byte is also a file store directory: the bytes before
 * the first NUL are state.json, those after it state.log (the record log
 * replay, store_file.h). A load that succeeds must be savable, and what was
 * saved must load again to the same state. */
#include "fuzz_common.h"
#include "qm_error.h"
#include "state/store.h"
#include "state/store_file.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static char dir[256];

static void put_file(const char *name, const uint8_t *p, size_t n)
{
	char path[320];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(fwrite(p, 1, n, f) == n);
	fclose(f);
}

static void remove_files(void)
{
	char path[320];
	const char *names[] = {STORE_FILE_STATE, STORE_FILE_LOG, STORE_FILE_LOCK};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
}

static void cleanup(void)
{
	remove_files();
	rmdir(dir);
}

static void as_directory(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	if (!nul)
		return;
	if (!dir[0]) {
		fuzz_mkdtemp(dir, sizeof dir, "qm-fuzz-store");
		atexit(cleanup);
	}
	size_t sn = (size_t)(nul - data);
	put_file(STORE_FILE_STATE, data, sn);
	put_file(STORE_FILE_LOG, nul + 1, size - sn - 1);
	struct store *st = NULL;
	char err[512] = "";
	FUZZ_CHECK(store_file_open(dir, &st, err, sizeof err) == 0);
	struct store_state s;
	uint64_t v = 0;
	int r = store_load(st, &s, &v, err, sizeof err);
	FUZZ_CHECK(FUZZ_TERMINATED(err));
	if (r == 0) {
		/* the state as loaded saves (a torn tail is cut), loads equal */
		char *t1 = NULL, *t2 = NULL;
		size_t l1 = 0, l2 = 0;
		uint64_t nv = 0;
		if (store_state_to_json(&s, v + 1, &t1, &l1) == 0 &&
		    store_save(st, &s, v, &nv, err, sizeof err) == 0) {
			struct store_state again;
			uint64_t v2 = 0;
			int r2 = store_load(st, &again, &v2, err, sizeof err);
			if (r2)
				fprintf(stderr, "reload: %s\n", err);
			FUZZ_CHECK(r2 == 0);
			FUZZ_CHECK(v2 == v + 1 && nv == v2);
			FUZZ_CHECK(store_state_to_json(&again, v2, &t2, &l2) == 0);
			FUZZ_CHECK(l1 == l2 && memcmp(t1, t2, l1) == 0);
			free(t2);
			store_state_fini(&again);
		}
		free(t1);
	} else {
		FUZZ_CHECK(err[0] != '\0');
	}
	store_state_fini(&s);
	store_close(st);
	remove_files(); /* leave nothing for the next input */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_directory(data, size);
	struct store_state s;
	uint64_t version = 0;
	char err[256];
	err[0] = '\0';
	int r = store_state_from_json((const char *)data, size, &s, &version, err,
				      sizeof err);
	FUZZ_CHECK(FUZZ_TERMINATED(err));
	if (r != 0) {
		FUZZ_CHECK(err[0] != '\0');
		store_state_fini(&s);
		return 0;
	}
	char *text = NULL;
	size_t len = 0;
	if (store_state_to_json(&s, version, &text, &len) == 0) {
		struct store_state again;
		uint64_t v2 = 0;
		int r2 = store_state_from_json(text, len, &again, &v2, err, sizeof err);
		FUZZ_CHECK(r2 == 0);
		FUZZ_CHECK(v2 == version);
		char *text2 = NULL;
		size_t len2 = 0;
		FUZZ_CHECK(store_state_to_json(&again, v2, &text2, &len2) == 0);
		FUZZ_CHECK(len2 == len && memcmp(text, text2, len) == 0);
		free(text2);
		store_state_fini(&again);
	}
	free(text);
	store_state_fini(&s);
	return 0;
}
