#include "mesos/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FrameworkInfo.Capability, include/mesos/v1/mesos.proto: the release that
 * first has each name. Before 1.5.0 stout refuses a whole call that names
 * an enum value it does not know (3rdparty/stout/include/stout/protobuf.hpp
 * at 1.4.0: "Failed to find enum for ..."), so a capability is only sent to
 * masters that know it. */
static const struct {
	const char *name, *since;
} caps_table[] = {
	{"MULTI_ROLE", "1.2.0"},
	{"PARTITION_AWARE", "1.1.0"},
	{"TASK_KILLING_STATE", "1.0.0"},
	{"RESERVATION_REFINEMENT", "1.4.0"},
};

size_t mesos_capabilities_for(const char *version, const char **names, size_t cap)
{
	const char *v = version && *version ? version : MESOS_OLDEST_SUPPORTED;
	size_t n = 0;
	for (size_t i = 0; i < sizeof caps_table / sizeof caps_table[0] && n < cap; i++)
		if (mesos_version_cmp(v, caps_table[i].since) >= 0)
			names[n++] = caps_table[i].name;
	return n;
}

int mesos_version_cmp(const char *a, const char *b)
{
	for (int part = 0; part < 3; part++) {
		long x = strtol(a, (char **)&a, 10), y = strtol(b, (char **)&b, 10);
		if (x != y)
			return x < y ? -1 : 1;
		a += strspn(a, ".");
		b += strspn(b, ".");
		if (!*a && !*b)
			break;
	}
	return 0;
}

bool mesos_refusal_remedy(const char *message, char *remedy, size_t cap)
{
	/* Messages of src/master/master.cpp (validateFramework*,
	 * checkSubscribeAuthorization; same wording 1.4.0 ... 1.11.0 except
	 * "master's"/"the master's") that no retry can change. */
	static const struct {
		const char *needle, *remedy;
	} terminal[] = {
		{"Framework has been removed",
		 "the master forgot this framework (its failover timeout expired or it was "
		 "torn down) and will never take its id again; its tasks are gone. Start over "
		 "with a new framework id: POST /v1/framework/reset"},
		{"not present in", "add the role to the masters' --roles, or start the "
				   "coordinator with a role they allow (--role)"},
		{"is not allowed to run frameworks",
		 "run the framework as another user (--user) or start the masters with "
		 "--root_submissions"},
		{"Not authorized to", "grant this principal the register_frameworks ACL for the "
				      "role on the masters (--acls), or use another --principal"},
		{"is not contained in the list of roles",
		 "a suppressed role must be one of the framework's roles: check --role"},
		{"failover_timeout", "set a valid --failover-timeout"},
		{"Failed to convert JSON", "the master cannot parse what this coordinator "
					   "sends: check the supported Mesos releases in README"},
		{"Failed to validate", "the master refuses what this coordinator sends: check "
				       "the supported Mesos releases in README"},
	};
	for (size_t i = 0; i < sizeof terminal / sizeof terminal[0]; i++) {
		if (strstr(message, terminal[i].needle)) {
			snprintf(remedy, cap, "%s", terminal[i].remedy);
			return true;
		}
	}
	return false;
}
