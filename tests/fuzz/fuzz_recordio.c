/* The master's event stream: RecordIO framing fed in arbitrary chunks,
 * each record parsed as JSON as the scheduler client does. The first byte
 * of the input sets the chunk size, so records split anywhere. */
#include "fuzz_common.h"
#include "mesos/recordio.h"

#include <cjson/cJSON.h>
#include <stdint.h>

struct seen {
	size_t records;
};

static int on_record(void *arg, const char *rec, size_t len)
{
	struct seen *s = arg;
	FUZZ_CHECK(rec[len] == '\0');
	s->records++;
	cJSON *j = cJSON_ParseWithLength(rec, len);
	if (j) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
		(void)cJSON_IsString(type);
		cJSON_Delete(j);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t chunk = (size_t)data[0] + 1;
	data++;
	size--;
	struct recordio r;
	recordio_init(&r, 64 * 1024);
	struct seen s = {0};
	int last = 0;
	for (size_t off = 0; off < size && last == 0; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		last = recordio_feed(&r, (const char *)data + off, n, on_record, &s);
	}
	if (last != 0)
		FUZZ_CHECK(recordio_error(&r) && recordio_error(&r)[0]);
	recordio_fini(&r);
	return 0;
}
