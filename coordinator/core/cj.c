#include "core/cj.h"

#include "qm_error.h"

#include <stdlib.h>

cJSON *cj_ck(cJSON *x)
{
	if (!x)
		qm_oom();
	return x;
}

void cj_add_str(cJSON *o, const char *k, const char *v)
{
	cj_ck(cJSON_AddStringToObject(o, k, v));
}

void cj_add_num(cJSON *o, const char *k, double v)
{
	cj_ck(cJSON_AddNumberToObject(o, k, v));
}

void cj_add_bool(cJSON *o, const char *k, bool v)
{
	cj_ck(cJSON_AddBoolToObject(o, k, v));
}

cJSON *cj_add_obj(cJSON *o, const char *k)
{
	return cj_ck(cJSON_AddObjectToObject(o, k));
}

cJSON *cj_add_arr(cJSON *o, const char *k)
{
	return cj_ck(cJSON_AddArrayToObject(o, k));
}

void cj_add_id(cJSON *o, const char *k, const char *v)
{
	cj_add_str(cj_add_obj(o, k), "value", v);
}

cJSON *cj_dup(const cJSON *x)
{
	return cj_ck(cJSON_Duplicate(x, 1));
}

void cj_push(cJSON *arr, cJSON *item)
{
	if (!cJSON_AddItemToArray(arr, item))
		qm_oom();
}

void cj_put(cJSON *o, const char *k, cJSON *item)
{
	if (!cJSON_AddItemToObject(o, k, item))
		qm_oom();
}

bool cj_number(const cJSON *x, double *out)
{
	if (cJSON_IsNumber(x)) {
		*out = x->valuedouble;
		return true;
	}
	if (cJSON_IsString(x) && x->valuestring && *x->valuestring) {
		char *end;
		double d = strtod(x->valuestring, &end);
		if (*end == '\0') {
			*out = d;
			return true;
		}
	}
	return false;
}

bool cj_u64(const cJSON *x, uint64_t *out)
{
	double d;
	/* 2^53: beyond it a double no longer holds every integer */
	if (!cj_number(x, &d) || !(d >= 0 && d <= 9007199254740992.0))
		return false;
	if ((double)(uint64_t)d != d)
		return false;
	*out = (uint64_t)d;
	return true;
}

const char *cj_str(const cJSON *o, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

void cj_push_pair(cJSON *arr, const char *k1, const char *v1,
		  const char *k2, const char *v2)
{
	cJSON *o = cj_ck(cJSON_CreateObject());
	cj_add_str(o, k1, v1);
	cj_add_str(o, k2, v2);
	cj_push(arr, o);
}
