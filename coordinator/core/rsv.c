/* Reservation labels: see rsv.h. */
#include "core/rsv.h"

#include "core/cj.h"
#include "core/text.h"
#include "qm_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *rsv_labels(const char *framework, enum service s)
{
	if (!text_ok(framework, RSV_VALUE_MAX) || (unsigned)s >= SERVICE_COUNT)
		return NULL;
	cJSON *l = cj_ck(cJSON_CreateObject());
	cJSON *arr = cj_add_arr(l, "labels");
	cj_push_pair(arr, "key", RSV_LABEL_FRAMEWORK, "value", framework);
	cj_push_pair(arr, "key", RSV_LABEL_SERVICE, "value", service_name(s));
	return l;
}

/* One of our keys: its value into *slot (set once). 0, or -1 with why. */
static int take_ours(const char *key, const cJSON *value, const char **slot,
		     char *why, size_t wlen)
{
	if (*slot) {
		snprintf(why, wlen, "reservation label %s twice", key);
		return -1;
	}
	if (!cJSON_IsString(value) || !text_ok(value->valuestring, RSV_VALUE_MAX)) {
		snprintf(why, wlen, "reservation label %s without a usable value", key);
		return -1;
	}
	*slot = value->valuestring;
	return 0;
}

int rsv_labels_parse(const cJSON *labels, const char **framework, const char **service,
		     char *why, size_t wlen)
{
	*framework = NULL;
	*service = NULL;
	if (!labels || cJSON_IsNull(labels))
		return 0;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(labels, "labels");
	if (!cJSON_IsObject(labels) || (arr && !cJSON_IsNull(arr) && !cJSON_IsArray(arr))) {
		snprintf(why, wlen, "reservation labels are not {\"labels\":[...]}");
		return -1;
	}
	const char *fw = NULL, *svc = NULL;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "key");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
		/* Label: required string key, optional string value (mesos.proto) */
		if (!cJSON_IsObject(it) || !cJSON_IsString(k) ||
		    (v && !cJSON_IsNull(v) && !cJSON_IsString(v))) {
			snprintf(why, wlen, "reservation label is not {key, value}");
			return -1;
		}
		if (strcmp(k->valuestring, RSV_LABEL_FRAMEWORK) == 0) {
			if (take_ours(RSV_LABEL_FRAMEWORK, v, &fw, why, wlen))
				return -1;
		} else if (strcmp(k->valuestring, RSV_LABEL_SERVICE) == 0) {
			if (take_ours(RSV_LABEL_SERVICE, v, &svc, why, wlen))
				return -1;
		}
	}
	if (!fw != !svc) {
		snprintf(why, wlen, "reservation label %s without %s",
			 fw ? RSV_LABEL_FRAMEWORK : RSV_LABEL_SERVICE,
			 fw ? RSV_LABEL_SERVICE : RSV_LABEL_FRAMEWORK);
		return -1;
	}
	enum service s;
	if (svc && service_parse(svc, &s) != 0) {
		snprintf(why, wlen, "reservation label %s names no service",
			 RSV_LABEL_SERVICE);
		return -1;
	}
	*framework = fw;
	*service = svc;
	return 0;
}
