/* Task specs: what the coordinator asks Mesos to run, and whether it fits.
 * This umbrella header gathers the modules; include it, or the one you need.
 *
 * Three jobs, all pure (no I/O, no clock, no globals; every function is
 * reentrant and touches only its arguments):
 *
 *  1. Validation (core/validate.h) of everything that ends up in a
 *     TaskInfo, and the coordinator's task IDs; the operator's settings for
 *     the tasks, their defaults and checks (core/taskconf.h).
 *  2. Offers: parse an OFFERS event's offer object, keeping each resource's
 *     identity (core/offer.h), and fit tasks into it one after another,
 *     accounting for what earlier tasks of the same ACCEPT took
 *     (core/fit.h). Scalars are handled in milli-units (§0).
 *  3. TaskInfo builders (core/taskinfo.h) for the Quobyte service tasks and
 *     the prober task.
 *
 * Section marks (§) are those of the Mesos scheduler HTTP API as the
 * modules cite them. Ownership: every cJSON returned is owned by the caller
 * (cJSON_Delete). Allocation failure aborts (qm_oom), as everywhere in the
 * project. */
#ifndef QM_TASKSPEC_H
#define QM_TASKSPEC_H

#include "core/fit.h"
#include "core/offer.h"
#include "core/taskconf.h"
#include "core/taskinfo.h"
#include "core/validate.h"

#endif
