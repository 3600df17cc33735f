/* cJSON helpers for core/: building TaskInfo and offer JSON without
 * checking every call, and reading Mesos JSON leniently.
 *
 * Internal to core/ (offer, fit, taskinfo); not part of any public header.
 * Builders never return NULL: cJSON fails only when malloc fails (or on
 * misuse, which would be our bug), and both end in the project's
 * out-of-memory policy, qm_oom(). Readers return false/NULL for what is
 * missing or of the wrong type, never abort. Pure and reentrant. */
#ifndef QM_CORE_CJ_H
#define QM_CORE_CJ_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* x, or qm_oom() when x is NULL. */
cJSON *cj_ck(cJSON *x);
void cj_add_str(cJSON *o, const char *k, const char *v);
void cj_add_num(cJSON *o, const char *k, double v);
void cj_add_bool(cJSON *o, const char *k, bool v);
/* A new empty object / array under key k of o; owned by o. */
cJSON *cj_add_obj(cJSON *o, const char *k);
cJSON *cj_add_arr(cJSON *o, const char *k);
/* k: {"value": v}, the shape of every Mesos ID. */
void cj_add_id(cJSON *o, const char *k, const char *v);
/* {k1: v1, k2: v2} appended to arr: environment variables ("name",
 * "value"), labels and Docker parameters ("key", "value"). */
void cj_push_pair(cJSON *arr, const char *k1, const char *v1,
		  const char *k2, const char *v2);
/* Deep copy; owned by the caller. */
cJSON *cj_dup(const cJSON *x);
/* Hand item over to arr / to o under k (the container owns it after). */
void cj_push(cJSON *arr, cJSON *item);
void cj_put(cJSON *o, const char *k, cJSON *item);

/* A JSON number, or a numeric string (§0: Mesos accepts both). */
bool cj_number(const cJSON *x, double *out);
/* A non-negative integer that a double holds exactly (<= 2^53). */
bool cj_u64(const cJSON *x, uint64_t *out);
/* o[key] when it is a string, else NULL (also when o is NULL). */
const char *cj_str(const cJSON *o, const char *key);

#endif
