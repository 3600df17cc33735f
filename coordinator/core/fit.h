/* Fitting tasks into an offer: what is left of a parsed offer, the request
 * a service task needs, taking resources for one task after another (so
 * that later tasks of the same ACCEPT see what earlier ones took), and
 * dynamic reservation of what was taken.
 *
 * Only "fittable" kinds are used (plain cpus/mem/disk/ports, see
 * struct taskspec_resource). Every resource entry of a fit is the offered
 * entry of its kind with a new value, so reservation fields travel verbatim
 * (scheduler API §5.3). Scalars are milli-units (§0).
 *
 * Pure: no I/O, no clock, no globals; reentrant; a function touches only
 * its arguments. Ownership: struct taskspec_fit owns its resources array
 * (taskspec_fit_fini); a RESERVE array handed out is the caller's
 * (cJSON_Delete). Allocation failure aborts (qm_oom). */
#ifndef QM_FIT_H
#define QM_FIT_H

#include "core/offer.h"
#include "core/service.h"
#include "core/taskconf.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TASKSPEC_MAX_PORTS 4         /* ports one task may ask for */

/* Which resource kinds a request may use. ANY prefers reserved kinds
 * (in offer order) and falls back to unreserved ones, splitting an amount
 * across kinds when needed. */
enum taskspec_reservation {
	TASKSPEC_RES_ANY = 0,
	TASKSPEC_RES_RESERVED,
	TASKSPEC_RES_UNRESERVED
};

/* Fittable milli-units of `name` not yet taken, over the kinds `which`
 * allows. For RANGES resources: the number of free values. */
int64_t taskspec_offer_left(const struct taskspec_offer *o, const char *name,
			    enum taskspec_reservation which);

/* One line for logs: "cpus=7.5 mem=4096 disk=0 ports=[31000-32000]" with
 * what is still free (all kinds summed). */
void taskspec_offer_summary(const struct taskspec_offer *o, char *buf,
			    size_t cap);

struct taskspec_port_want {
	uint32_t preferred;  /* 0 = any port */
	bool required;       /* the preferred port or no fit */
};

#define TASKSPEC_MAX_AVOID 16

struct taskspec_request {
	int64_t cpus_milli, mem_milli, disk_milli;  /* milli-units; MB * 1000 */
	unsigned nports;
	struct taskspec_port_want ports[TASKSPEC_MAX_PORTS];
	/* Ports a fallback ("any port") pick uses only when nothing else is
	 * free: the preferred ports of other services, so that one service's
	 * fallback does not take the port another one is configured for. */
	uint32_t avoid[TASKSPEC_MAX_AVOID];
	unsigned navoid;
	enum taskspec_reservation reservation;
};

/* The request a service task needs under config c: cpus/mem/disk from
 * c->svc[s], then ports in the order [port, http_port] (those that are not
 * 0), preferring the configured numbers (required when c->strict_ports),
 * and avoiding every service's configured ports in fallback picks. */
void taskspec_request_for(const struct taskspec_config *c,
			  enum service s, struct taskspec_request *r);

struct taskspec_fit {
	uint32_t ports[TASKSPEC_MAX_PORTS]; /* parallel to request.ports */
	unsigned nports;
	cJSON *resources;   /* owned: TaskInfo.resources, never empty */
	char reason[192];   /* why it did not fit */
};

/* Fit one task into what is left of the offer. On success takes the
 * resources from *o (later calls see less), fills f->ports and
 * f->resources (one entry per kind used, reservation fields copied verbatim
 * from the offer, §5.3) and returns true. Otherwise takes nothing, leaves
 * f->resources NULL, says why in f->reason ("cpus: need 1, 0.5 left",
 * "port 7861 is not offered") and returns false. Ports: preferred ports
 * that are free are given first; the rest get the lowest free port that is
 * not in r->avoid (else the lowest free one), reserved kinds before
 * unreserved under TASKSPEC_RES_ANY. An empty request does not
 * fit (Mesos rejects tasks without resources). *f is zeroed first; release
 * it with taskspec_fit_fini(). */
bool taskspec_offer_take(struct taskspec_offer *o,
			 const struct taskspec_request *r,
			 struct taskspec_fit *f);
void taskspec_fit_fini(struct taskspec_fit *f);

/* Fit requests in order: fits[i] (caller's array of n) gets the result of
 * taskspec_offer_take for reqs[i]; a request that does not fit is skipped
 * and later ones are still tried. Returns how many fit. */
size_t taskspec_offer_take_all(struct taskspec_offer *o,
			       const struct taskspec_request *reqs, size_t n,
			       struct taskspec_fit *fits);

/* Dynamically reserve a fit's unreserved resources for `role` (principal
 * may be NULL): every unreserved entry of f->resources is rewritten, in the
 * format it was offered in, to its reserved form (pre-refinement: "role" +
 * "reservation":{"principal"}; post-refinement: a DYNAMIC entry pushed onto
 * "reservations"), and *reserve gets a new array of those entries for a
 * RESERVE operation placed before the LAUNCH in the same ACCEPT (§3.3). The
 * task then launches on the reservation. *reserve is NULL when everything was
 * reserved already. 0, or QM_EINVAL for a bad role or principal. */
int taskspec_fit_reserve(struct taskspec_fit *f, const char *role,
			 const char *principal, cJSON **reserve);

#endif
