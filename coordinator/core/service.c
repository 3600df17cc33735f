#include "core/service.h"

#include "qm_error.h"

#include <string.h>

static const char *const names[SERVICE_COUNT] = {
	[SERVICE_REGISTRY] = "registry",
	[SERVICE_METADATA] = "metadata",
	[SERVICE_DATA] = "data",
	[SERVICE_API] = "api",
	[SERVICE_WEBCONSOLE] = "webconsole",
	[SERVICE_CLIENT] = "client",
	[SERVICE_PROBER] = "prober",
};

const char *service_name(enum service s)
{
	return (unsigned)s < SERVICE_COUNT ? names[s] : "?";
}

int service_parse(const char *name, enum service *out)
{
	if (!name)
		return QM_EINVAL;
	for (unsigned i = 0; i < SERVICE_COUNT; i++) {
		/* the names differ in their first byte: one compare per miss
		 * (twice per task in every plan) */
		if (name[0] == names[i][0] && strcmp(name, names[i]) == 0) {
			*out = (enum service)i;
			return 0;
		}
	}
	return QM_EINVAL;
}
