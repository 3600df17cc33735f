/* O(1) look-ups of a store_state's tasks (by task id), reservations (by
 * service and agent id) and of the agents that have tasks, for the owner of
 * one long-lived state: the coordinator's. codec.c finds them by scanning,
 * which made every status update, launch and offer O(tasks): O(n^2) per
 * offer cycle and per launch plan at 10,000 agents (issue 11).
 *
 * The index is a cache of one state's content, identified by
 * store_state.gen: codec.c gives a state a new process-wide number whenever
 * a task or a reservation is added or removed, or the state is
 * initialised (copies keep the number, and the content). A look-up on a
 * state whose number is not the one indexed rebuilds the index first, so
 * a change made without going through here stays correct, only slower;
 * the changes made through here keep the index valid. A position found is
 * also checked against the key, and a mismatch falls back to the scan.
 * Not thread-safe (the loop thread owns the coordinator's state). */
#ifndef QM_STINDEX_H
#define QM_STINDEX_H

#include "state/codec.h"
#include "strmap.h"

#include <stdbool.h>
#include <stdint.h>

struct sti {
	uint64_t gen;         /* store_state.gen indexed; 0 = none */
	struct strmap tasks;  /* task id -> position in tasks */
	struct strmap rsv;    /* "service\nagent id" -> position in reservations */
	struct strmap agents; /* agent id -> number of its tasks (> 0) */
	/* tasks removed through sti_remove_task since the build: a position
	 * in tasks is at most this far past its task now */
	size_t shifted;
	uint64_t rebuilds; /* for tests and figures */
};

void sti_init(struct sti *x);
void sti_fini(struct sti *x);

/* As store_state_find_task. */
struct store_task *sti_find_task(struct sti *x, struct store_state *s, const char *task_id);
/* As store_state_remove_task; the index follows without a rebuild (one
 * after every STI_SHIFT_MAX removals). */
bool sti_remove_task(struct sti *x, struct store_state *s, const char *task_id);
/* As store_state_put_task. */
struct store_task *sti_put_task(struct sti *x, struct store_state *s, const struct store_task *t);
/* Whether any task of s runs on (was launched on) agent_id. */
bool sti_agent_has_tasks(struct sti *x, struct store_state *s, const char *agent_id);
/* As store_state_reservation. */
struct store_reservation *sti_reservation(struct sti *x, struct store_state *s, const char *service,
					  const char *agent_id, bool create);

#endif
