#include "mesos/call.h"

#include <string.h>

cJSON *mesos_id(const char *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "value", s);
	return o;
}

static cJSON *call_new(const char *type)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "type", type);
	return c;
}

static cJSON *filters(double refuse_seconds)
{
	cJSON *f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "refuse_seconds", refuse_seconds);
	return f;
}

cJSON *mesos_call_accept(cJSON *offer_ids, cJSON *operations, double refuse_seconds)
{
	cJSON *c = call_new("ACCEPT");
	cJSON *a = cJSON_AddObjectToObject(c, "accept");
	cJSON_AddItemToObject(a, "offer_ids", offer_ids);
	cJSON_AddItemToObject(a, "operations", operations);
	cJSON_AddItemToObject(a, "filters", filters(refuse_seconds));
	return c;
}

cJSON *mesos_call_decline(cJSON *offer_ids, double refuse_seconds)
{
	cJSON *c = call_new("DECLINE");
	cJSON *d = cJSON_AddObjectToObject(c, "decline");
	cJSON_AddItemToObject(d, "offer_ids", offer_ids);
	cJSON_AddItemToObject(d, "filters", filters(refuse_seconds));
	return c;
}

static cJSON *inverse_call(const char *type, const char *key, const char *id,
			   double refuse_seconds)
{
	cJSON *c = call_new(type);
	cJSON *b = cJSON_AddObjectToObject(c, key);
	cJSON *ids = cJSON_AddArrayToObject(b, "inverse_offer_ids");
	cJSON_AddItemToArray(ids, mesos_id(id));
	if (refuse_seconds >= 0)
		cJSON_AddItemToObject(b, "filters", filters(refuse_seconds));
	return c;
}

cJSON *mesos_call_accept_inverse(const char *inverse_offer_id)
{
	return inverse_call("ACCEPT_INVERSE_OFFERS", "accept_inverse_offers",
			    inverse_offer_id, -1);
}

cJSON *mesos_call_decline_inverse(const char *inverse_offer_id, double refuse_seconds)
{
	return inverse_call("DECLINE_INVERSE_OFFERS", "decline_inverse_offers",
			    inverse_offer_id, refuse_seconds);
}

cJSON *mesos_call_kill(const char *task_id, const char *agent_id)
{
	cJSON *c = call_new("KILL");
	cJSON *k = cJSON_AddObjectToObject(c, "kill");
	cJSON_AddItemToObject(k, "task_id", mesos_id(task_id));
	if (agent_id && *agent_id)
		cJSON_AddItemToObject(k, "agent_id", mesos_id(agent_id));
	return c;
}

cJSON *mesos_call_acknowledge(const char *agent_id, const char *task_id, const char *uuid_b64)
{
	cJSON *c = call_new("ACKNOWLEDGE");
	cJSON *a = cJSON_AddObjectToObject(c, "acknowledge");
	cJSON_AddItemToObject(a, "agent_id", mesos_id(agent_id));
	cJSON_AddItemToObject(a, "task_id", mesos_id(task_id));
	cJSON_AddStringToObject(a, "uuid", uuid_b64);
	return c;
}

cJSON *mesos_call_reconcile(cJSON *tasks)
{
	cJSON *c = call_new("RECONCILE");
	cJSON *r = cJSON_AddObjectToObject(c, "reconcile");
	cJSON_AddItemToObject(r, "tasks", tasks);
	return c;
}

static cJSON *roles_call(const char *type, const char *key, const char *role)
{
	cJSON *c = call_new(type);
	cJSON *b = cJSON_AddObjectToObject(c, key);
	cJSON *roles = cJSON_AddArrayToObject(b, "roles");
	cJSON_AddItemToArray(roles, cJSON_CreateString(role));
	return c;
}

cJSON *mesos_call_revive(const char *role)
{
	return roles_call("REVIVE", "revive", role);
}
cJSON *mesos_call_suppress(const char *role)
{
	return roles_call("SUPPRESS", "suppress", role);
}
cJSON *mesos_call_teardown(void)
{
	return call_new("TEARDOWN");
}

bool mesos_id_valid(const char *id)
{
	if (!id || !*id || strnlen(id, 256) > 255)
		return false;
	if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return false;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
			return false;
	return true;
}

const char *mesos_subscribed_framework_id(const cJSON *ev)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "subscribed");
	const cJSON *fid = cJSON_GetObjectItemCaseSensitive(s, "framework_id");
	const cJSON *val = cJSON_GetObjectItemCaseSensitive(fid, "value");
	if (!cJSON_IsString(val) || !mesos_id_valid(val->valuestring))
		return NULL;
	return val->valuestring;
}
