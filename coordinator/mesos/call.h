/* Builders of the scheduler calls the coordinator makes
 * (shared/docs/mesos-v1-scheduler-api.md §3). Each returns a new Call
 * object for mesos_send(), which adds the framework id. Pure (cJSON only). */
#ifndef QM_MESOS_CALL_H
#define QM_MESOS_CALL_H

#include <cjson/cJSON.h>
#include <stdbool.h>

cJSON *mesos_call_accept(cJSON *offer_ids /* taken: array of {"value"} */,
			 cJSON *operations /* taken: array */, double refuse_seconds);
cJSON *mesos_call_decline(cJSON *offer_ids /* taken */, double refuse_seconds);
/* ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS (scheduler.proto at
 * 1.4.0 .. 1.11.0: {"inverse_offer_ids":[OfferID], "filters"}); a decline
 * is asked again after refuse_seconds. */
cJSON *mesos_call_accept_inverse(const char *inverse_offer_id);
cJSON *mesos_call_decline_inverse(const char *inverse_offer_id, double refuse_seconds);
cJSON *mesos_call_kill(const char *task_id, const char *agent_id /* may be NULL */);
cJSON *mesos_call_acknowledge(const char *agent_id, const char *task_id, const char *uuid_b64);
/* tasks: array of {"task_id":{"value"},"agent_id":{"value"}} (taken); an
 * empty array asks for implicit reconciliation. */
cJSON *mesos_call_reconcile(cJSON *tasks);
cJSON *mesos_call_revive(const char *role);
cJSON *mesos_call_suppress(const char *role);
cJSON *mesos_call_teardown(void);
/* {"value": s} */
cJSON *mesos_id(const char *s);

/* Is id a valid Mesos ID: 1..255 bytes, not "." or "..", no control
 * character, '/' or '\\' (src/common/validation.cpp validateID, 1.4.0 and
 * 1.11.0)? The store keeps only such IDs (state/codec.c). */
bool mesos_id_valid(const char *id);
/* The framework id a SUBSCRIBED event gives (subscribed.framework_id.value),
 * borrowed from ev, or NULL when it is missing or not a valid Mesos ID: a
 * framework id the coordinator could not persist and read back. */
const char *mesos_subscribed_framework_id(const cJSON *ev);

#endif
