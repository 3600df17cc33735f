/* Offers: parse an OFFERS event's offer object into resource kinds and
 * attributes.
 *
 * Each resource's identity ("same kind", scheduler API §5.3: name, type,
 * allocation_info, reservation(s) incl. principal and labels, disk,
 * revocable, shared, provider) is kept, and entries of the same kind are
 * merged into one, so that core/fit.h can fit tasks into what is left and
 * copy every entry's reservation fields verbatim. Both reservation formats
 * (§5.1) are understood. Scalars are held in milli-units (§0). The
 * current reservation's labels of ours (core/rsv.h) and plain MOUNT disks'
 * roots are picked out, so that core/fit.h can keep one service's
 * reservation for that service and take MOUNT disks whole.
 *
 * Pure: no I/O, no clock, no globals; reentrant. Ownership: a parsed
 * struct taskspec_offer's arrays and strings live in a pool (pool.h) that
 * it holds a reference to until taskspec_offer_free(); the offers of one
 * event share one pool, so an offer moved to another owner by copying the
 * struct (and emptying the original) stays whole, whoever frees the rest.
 * Allocation failure aborts (qm_oom). */
#ifndef QM_OFFER_H
#define QM_OFFER_H

#include "core/validate.h"
#include "pool.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps on what one offer may carry; beyond them the offer is refused. */
#define TASKSPEC_OFFER_MAX_RESOURCES 1024
#define TASKSPEC_OFFER_MAX_RANGES 4096
#define TASKSPEC_OFFER_MAX_ATTRS 256
#define TASKSPEC_ATTR_VALUE_MAX 1024

/* ---- offers --------------------------------------------------------- */

enum taskspec_rtype { TASKSPEC_SCALAR = 0, TASKSPEC_RANGES, TASKSPEC_SET };

struct taskspec_range {
	uint64_t begin, end;  /* inclusive */
};

/* One resource kind of an offer. Entries of the same kind (§5.3: name,
 * type, allocation_info, reservation(s) incl. principal and labels, disk,
 * revocable, shared, provider) are merged into one. */
struct taskspec_resource {
	char name[64];
	enum taskspec_rtype type;
	int64_t milli;                 /* SCALAR: offered, milli-units */
	int64_t used_milli;            /* SCALAR: taken by fits so far */
	struct taskspec_range *ranges; /* RANGES: offered, sorted, merged */
	size_t nranges;
	struct taskspec_range *free;   /* RANGES: not yet taken, sorted */
	size_t nfree;
	bool free_heap;    /* `free` grown by a fit (core/fit.c): the heap's */
	char *role;        /* current (innermost) reservation role; NULL = unreserved */
	bool dynamic;      /* current reservation is DYNAMIC */
	bool refinement;   /* offered in the post-refinement format */
	bool revocable, shared, has_disk, has_provider;
	/* Plain cpus/mem/disk/ports of a usable kind: not revocable, not
	 * shared, no DiskInfo, no resource provider. Only these are fitted. */
	bool fittable;
	/* Our labels (core/rsv.h) on the current reservation, both formats:
	 * the values of RSV_LABEL_FRAMEWORK and RSV_LABEL_SERVICE, both set or
	 * both NULL (a kind carrying only one is skipped as malformed). */
	char *rsv_framework;
	char *rsv_service;
	/* A MOUNT disk (DiskInfo.source MOUNT, no persistence or volume, not
	 * shared or revocable, no resource provider): its root, else NULL.
	 * Such a kind is never fittable; a request takes it whole through
	 * taskspec_request.mount_roots (core/fit.h). */
	char *mount_root;
	char *kind;        /* canonical identity text: equal <=> same kind */
	/* The first offered entry of this kind, borrowed from the offer's
	 * JSON (see taskspec_resource_template), or owned after
	 * taskspec_offer_own_json (src_owned). */
	const cJSON *src;
	bool src_owned;
};

struct taskspec_attr {
	char *name;
	char *value;       /* text; scalars "2.5", ranges "[1-2,5-6]", sets "{a,b}" */
};

struct taskspec_offer {
	/* In the pool, as every array and string below (checked: id and
	 * agent_id taskspec_id_valid, hostname and role text_ok within
	 * TASKSPEC_ID_MAX / TASKSPEC_ROLE_MAX): they outlive the event's
	 * JSON. NULL only in an emptied offer (all zero). */
	const char *id;
	const char *agent_id;
	const char *hostname;
	const char *role;  /* allocation_info.role, "" if absent */
	struct pool *pool; /* referenced; NULL in an emptied offer */
	/* The offer's "unavailability" (maintenance, mesos.proto Offer), or
	 * NULL: borrowed from the event, to be read while it is handled
	 * (taskspec_offer_own_json clears it). */
	const cJSON *unavailability;
	struct taskspec_attr *attrs;
	size_t nattrs;
	struct taskspec_resource *res;
	size_t nres;
	unsigned skipped;        /* malformed resources/attributes ignored */
	char skip_reason[160];   /* the first one's reason */
};

/* Parse one element of OFFERS' "offers":{"offers":[...]} into *o (zeroed
 * first; release with taskspec_offer_free, also after an error). Both
 * reservation formats (§5.1) are understood. A malformed resource or
 * attribute is skipped and counted (o->skipped, o->skip_reason) so the rest
 * of the offer stays usable; a missing or malformed id/agent_id/hostname,
 * or more than the caps above, fails with QM_EINVAL / QM_ETOOBIG and a
 * message in err. *o borrows from offer (taskspec_resource.src): offer
 * must outlive every use of *o but taskspec_offer_free. */
int taskspec_offer_parse(const cJSON *offer, struct taskspec_offer *o,
			 char *err, size_t errlen);
void taskspec_offer_free(struct taskspec_offer *o);
/* Make *o independent of the offer's JSON: each resource's src becomes a
 * copy of its own (freed by taskspec_offer_free), unavailability is
 * cleared. For an offer whose resources are read past the event it came
 * in (a launch slice, planning.c). An offer only answered later, by id,
 * needs none of it: its ids are its pool's. */
void taskspec_offer_own_json(struct taskspec_offer *o);

/* An OFFERS event's offers, all parsed: what the coordinator handles, read
 * in one pure step (for a big event on the Mesos client's parser thread,
 * mesos_handlers.prepare). Borrows from the event as taskspec_offer does. */
struct taskspec_offer_bad {
	const cJSON *json;   /* the offer */
	char err[192];       /* why it was refused */
};
struct taskspec_offers {
	size_t n;                        /* offers in the event */
	struct taskspec_offer *ok;       /* the well-formed ones, in order */
	const cJSON **ok_json;           /* ok[i]'s offer in the event */
	size_t nok;
	struct taskspec_offer_bad *bad;  /* the malformed ones, in order */
	size_t nbad;
	const cJSON *over;               /* the first offer past the cap (the rest
					  * follow it), NULL when none is */
	struct pool *pool;               /* the offers' (ok and ok_json are in it) */
};
/* The offers of `event` ({"offers":{"offers":[...]}}), at most cap of them
 * parsed, all into one pool. Never NULL (allocation aborts); an event
 * without offers gives n = 0. An entry of ok that is emptied (memset to
 * 0) is nothing to free: an entry moved out keeps the pool alive. */
struct taskspec_offers *taskspec_offers_parse(const cJSON *event, size_t cap);
void taskspec_offers_free(struct taskspec_offers *b);

/* The kind r's entry as offered minus its value (scalar, ranges, set,
 * text), every other field verbatim: the start of an entry that names
 * this kind in a LAUNCH, RESERVE or UNRESERVE. A new object the caller
 * owns. Reads r->src: the offer's JSON must still exist. */
cJSON *taskspec_resource_template(const struct taskspec_resource *r);

/* The kind r as offered: its template with the whole offered value (a
 * SCALAR's amount, a RANGES' ranges, sorted and merged), the form an
 * UNRESERVE names it in. A new object the caller owns; NULL for SET kinds,
 * whose items are not kept. */
cJSON *taskspec_resource_offered(const struct taskspec_resource *r);

/* An attribute's text value, or NULL when the offer has none by that name. */
const char *taskspec_offer_attr(const struct taskspec_offer *o,
				const char *name);

#endif
