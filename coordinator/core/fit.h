/* Fitting tasks into an offer: what is left of a parsed offer, the request
 * a service task needs, taking resources for one task after another (so
 * that later tasks of the same ACCEPT see what earlier ones took), and
 * dynamic reservation of what was taken.
 *
 * Only "fittable" kinds are used (plain cpus/mem/disk/ports, see
 * struct taskspec_resource), plus whole MOUNT disks a request names by
 * root. With a framework name in the request, reservations labeled ours
 * (core/rsv.h) are used only by the service they name. Every resource entry of a fit is the offered
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
#include "core/rsv.h"
#include "core/service.h"
#include "core/taskconf.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TASKSPEC_MAX_PORTS 4         /* ports one task may ask for */
#define TASKSPEC_MAX_MOUNTS 64       /* MOUNT disks one task may take */

/* Which resource kinds a request may use. ANY prefers reserved kinds
 * (in offer order) and falls back to unreserved ones, splitting an amount
 * across kinds when needed. With taskspec_request.rsv_framework set, the
 * kinds labeled ours are further limited, see there. */
enum taskspec_reservation {
	TASKSPEC_RES_ANY = 0,
	TASKSPEC_RES_RESERVED,
	TASKSPEC_RES_UNRESERVED
};

/* Fittable milli-units of `name` not yet taken, over the kinds `which`
 * allows, labels ignored. For RANGES resources: the number of free
 * values. */
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
	enum service service;          /* set by taskspec_request_for */
	/* Our framework name (--framework-name); NULL ignores reservation
	 * labels (every kind the reservation filter allows is used). When set,
	 * the request uses unreserved kinds, reserved kinds without our labels
	 * (static ones, an operator's for our role), and kinds labeled ours
	 * (RSV_LABEL_FRAMEWORK == rsv_framework) for `service`; never kinds
	 * labeled ours for another service, nor kinds with our keys and
	 * another framework name. Kinds are used in the order: reserved for
	 * this service, other reserved, unreserved; so a relaunch lands on
	 * its reservation. Borrowed. */
	const char *rsv_framework;
	/* Offered MOUNT disks whose root is one of these (a trailing '/'
	 * aside) are taken whole, under the same kind rules and order; a root
	 * with no usable MOUNT disk in the offer is no miss. At most
	 * TASKSPEC_MAX_MOUNTS disks are taken. Borrowed. */
	const char *const *mount_roots;
	size_t n_mount_roots;
};

/* The request a service task needs under config c (r->service = s, no
 * framework name, no mount roots): cpus/mem/disk from
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
	unsigned n_mounts;  /* MOUNT disks in resources, and their roots */
	char mounts[TASKSPEC_MAX_MOUNTS][TASKSPEC_PATH_MAX + 1];
};

/* Fit one task into what is left of the offer. On success takes the
 * resources from *o (later calls see less), fills f->ports and
 * f->resources (one entry per kind used, reservation fields copied verbatim
 * from the offer, §5.3) and returns true. Otherwise takes nothing, leaves
 * f->resources NULL, says why in f->reason ("cpus: need 1, 0.5 left",
 * "port 7861 is not offered") and returns false. Ports: preferred ports
 * that are free are given first; the rest get the lowest free port that is
 * not in r->avoid (else the lowest free one), reserved kinds before
 * unreserved under TASKSPEC_RES_ANY. The amounts left count only kinds r
 * may use (r->rsv_framework). MOUNT disks of r->mount_roots follow the
 * cpus/mem/disk/ports entries, one whole entry each, named in f->mounts;
 * they are never a reason not to fit. An empty request does not fit
 * (Mesos rejects tasks without resources). *f is zeroed first (it is
 * large: TASKSPEC_MAX_MOUNTS paths); release it with taskspec_fit_fini(). */
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

/* Dynamically reserve a fit's unreserved resources (MOUNT disks included)
 * for `role`, with `principal` and `labels` (both borrowed, may be NULL;
 * labels a Labels object such as rsv_labels()): every unreserved entry of
 * f->resources is rewritten, in the format it was offered in, to its
 * reserved form (pre-refinement: "role" + "reservation":{"principal",
 * "labels"}; post-refinement: {"type":"DYNAMIC","role","principal",
 * "labels"} pushed onto "reservations"), and *reserve gets a new array of
 * those entries for a RESERVE operation placed before the LAUNCH in the
 * same ACCEPT (§3.3). The task then launches on the reservation; entries
 * that were reserved already (ours or not) stay as they are, so a
 * reservation that has grown too small is topped up. *reserve is NULL when
 * everything was reserved already. 0, or QM_EINVAL for a bad role,
 * principal or labels (not an object).
 *
 * The master's rules (src/master/validation.cpp operation::validate for
 * Reserve, 1.4.0 and 1.11.0): role must be the offer's allocation role
 * (and one of the framework's roles); when FrameworkInfo.principal is set,
 * the principal must be set and equal to it (otherwise any or none). */
int taskspec_fit_reserve(struct taskspec_fit *f, const char *role,
			 const char *principal, const cJSON *labels,
			 cJSON **reserve);

#endif
