/* The Quobyte services this framework runs: one enum for the whole
 * coordinator (planner, task builders, state, REST). The numeric values are
 * array indexes and bit positions (1u << s); they are never stored or sent,
 * names are (service_name()).
 * Pure: no I/O. */
#ifndef QM_SERVICE_H
#define QM_SERVICE_H

enum service {
	SERVICE_REGISTRY = 0,
	SERVICE_METADATA,
	SERVICE_DATA,
	SERVICE_API,
	SERVICE_WEBCONSOLE,
	SERVICE_CLIENT,
	SERVICE_PROBER,
	SERVICE_COUNT
};

/* "registry", "metadata", "data", "api", "webconsole", "client", "prober";
 * "?" for anything else. */
const char *service_name(enum service s);
/* Inverse of service_name(); 0 or QM_EINVAL (NULL or unknown name). */
int service_parse(const char *name, enum service *out);

#endif
