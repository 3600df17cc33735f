/* The coordinator's durable state in memory, and its one encoding.
 *
 * What is stored (struct store_state): the framework ID, the operator's
 * target version (and the one before it, and whether the rollout is
 * paused), an opaque deployment progress marker, the tasks the
 * coordinator launched (written BEFORE the ACCEPT that launches them, so a
 * restarted coordinator knows its tasks) and per-slot failure counters for
 * relaunch backoff. Device inventories are not stored: probers resend
 * snapshots.
 *
 * The encoding is JSON text (store_state_to_json), one key per line, the
 * same for every backend (store.h): the file store keeps it as state.json,
 * the ZooKeeper store in its head znode (compressed or chunked when large).
 * The decoder is strict and says what is wrong: a backend refuses a state
 * it cannot decode instead of treating it as empty.
 *
 * Pure: no I/O. Threads: a store_state is used by one thread at a time. */
#ifndef QM_STATE_CODEC_H
#define QM_STATE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_MAX_BYTES (64u << 20)   /* cap on a stored state's size */
#define STORE_FORMAT "quobyte-mesos-state"
/* Bumped on incompatible changes. A state holding reservations is written
 * as version 2, so a coordinator from before reservations refuses it rather
 * than reading it and forgetting them on its next save; a state without any
 * is still written as version 1. */
#define STORE_FORMAT_VERSION 4
#define STORE_FORMAT_VERSION_PLAIN 1
#define STORE_FORMAT_VERSION_RESERVATIONS 2
/* A state with drained nodes is written as version 3 for the same reason:
 * a coordinator from before drains would relaunch a drained node's
 * services. Without drains the version stays 2 or 1. */
#define STORE_FORMAT_VERSION_DRAINS 3
/* The file store's snapshot while its record log (store_file.h) is in use
 * is written as version 4: a coordinator from before the log would read
 * the snapshot alone and miss the log's changes, so it must refuse it. */
#define STORE_FORMAT_VERSION_LOG 4

#define STORE_ID_MAX 255              /* Mesos ID limit */
#define STORE_SERVICE_MAX 16
#define STORE_VERSION_MAX 128         /* Docker tag limit */
#define STORE_STATE_NAME_MAX 31
#define STORE_PROGRESS_MAX 1023
#define STORE_TASK_PORTS 4
#define STORE_MOUNTS_MAX 2047
#define STORE_SUMMARY_MAX 255

struct store_task {
	char task_id[STORE_ID_MAX + 1];
	char service[STORE_SERVICE_MAX + 1];   /* "registry" ... "prober" */
	char agent_id[STORE_ID_MAX + 1];
	char hostname[STORE_ID_MAX + 1];
	char version[STORE_VERSION_MAX + 1];   /* "" when none (prober) */
	int64_t launched_ms;                   /* epoch ms */
	/* Last known Mesos state name, e.g. "TASK_RUNNING"; "" = launched, no
	 * update yet. */
	char state[STORE_STATE_NAME_MAX + 1];
	bool kill_requested;
	int64_t unwanted_since_ms;             /* planner bookkeeping; 0 = not */
	uint32_t ports[STORE_TASK_PORTS];      /* ports it was launched with */
	unsigned nports;
	/* Disk services: the host paths bind-mounted into its container at
	 * launch, comma-separated ("" = none); a device outside all of them
	 * needs a new container. mounts_known is false for tasks stored by an
	 * older coordinator (nothing is replaced for them).
	 * At most STORE_MOUNTS_MAX bytes, NULL = "" (store_task_mounts reads
	 * it). Out of line: mostly empty, it was 2 KB of every task's 3 KB,
	 * kept twice (the state and the file store's copy). A task in a
	 * state owns it; a task built outside one may point anywhere, since
	 * put/append store a copy. */
	char *mounts;
	bool mounts_known;
	bool mounts_shared; /* with shared propagation: later mounts show */
};

/* Failure history of one (service, agent) slot. */
struct store_failure {
	char service[STORE_SERVICE_MAX + 1];
	char agent_id[STORE_ID_MAX + 1];
	uint32_t consecutive;
	int64_t last_failure_ms;
};

/* A dynamic reservation of ours (issue 10): made by a RESERVE the
 * coordinator sent (recorded before that ACCEPT) or found in an offer by
 * its labels. Never dropped on its own: only after the operator asked for
 * its release and the UNRESERVE went out. */
struct store_reservation {
	char service[STORE_SERVICE_MAX + 1];   /* "registry" ... "prober" */
	char agent_id[STORE_ID_MAX + 1];
	char hostname[STORE_ID_MAX + 1];
	int64_t since_ms;                      /* made or first found, epoch ms */
	bool release_requested;                /* the operator's REST call */
	/* What it holds as last seen, for operators: "cpus=1 mem=1024 ..."
	 * and the MOUNT disk roots in it, comma-separated. */
	char summary[STORE_SUMMARY_MAX + 1];
	char *mounts; /* as store_task.mounts; owned by the state */
};

/* A node the operator drained (issue 14, planner rule 15): its Quobyte
 * services stay stopped until it is undrained. Keyed by agent id. */
struct store_drain {
	char agent_id[STORE_ID_MAX + 1];
	char hostname[STORE_ID_MAX + 1];       /* as known then, for operators */
	int64_t since_ms;                      /* epoch ms of the drain call */
	bool forced;                           /* drained against the quorum check */
};

struct store_state {
	char framework_id[STORE_ID_MAX + 1];     /* "" until SUBSCRIBED */
	char target_version[STORE_VERSION_MAX + 1]; /* "" = no services wanted */
	char progress[STORE_PROGRESS_MAX + 1];   /* opaque to the store */
	/* Rollout control (issue 14): the target version before the last
	 * change ("" = none; POST /v1/rollout/rollback goes back to it) and
	 * whether the operator paused upgrade KILLs. Both optional on read. */
	char previous_version[STORE_VERSION_MAX + 1];
	bool rollout_paused;
	struct store_task *tasks;
	size_t ntasks, tasks_cap;
	struct store_failure *failures;
	size_t nfailures, failures_cap;
	struct store_reservation *reservations;
	size_t nreservations, reservations_cap;
	struct store_drain *drains;              /* optional on read */
	size_t ndrains, drains_cap;
	/* Not stored: a number no other state content had (state/stindex.h
	 * caches look-ups by it). Set anew by every function below that may
	 * change which tasks or reservations there are, or a task's agent id
	 * (init and fini too), so a struct copy carries it along with the
	 * content it describes. Code that writes tasks[], reservations[] or
	 * their counts directly calls store_state_changed(). */
	uint64_t gen;
};

/* ---- state in memory ------------------------------------------------ */

void store_state_init(struct store_state *s);
/* Free the arrays; *s is left initialised and empty. */
void store_state_fini(struct store_state *s);

/* Insert or replace (by task_id) a copy of *t. Returns the stored entry,
 * valid until the next insert or remove. NULL when t->task_id is empty or
 * a string field is not NUL-terminated within its array. A task's agent_id
 * changes only through here (a found task's other fields may be written in
 * place). */
struct store_task *store_state_put_task(struct store_state *s,
					const struct store_task *t);
/* Append a copy of *t without looking for its task_id (the caller knows it
 * is new, or state/stindex.c looked); NULL as put_task. */
struct store_task *store_state_append_task(struct store_state *s, const struct store_task *t);
/* True when put_task would take *t. */
bool store_task_valid(const struct store_task *t);
/* The task with this ID or NULL; valid until the next insert or remove. */
struct store_task *store_state_find_task(struct store_state *s,
					 const char *task_id);
/* Remove a task; true when it was there. Order of the others is kept. */
bool store_state_remove_task(struct store_state *s, const char *task_id);
/* Remove tasks[i] (i < ntasks), as store_state_remove_task. */
void store_state_remove_task_at(struct store_state *s, size_t i);
/* Say that tasks[], reservations[] or their counts were written directly:
 * a new gen. */
void store_state_changed(struct store_state *s);

/* Mounts (out of line: store_task.mounts): "" when none. */
const char *store_task_mounts(const struct store_task *t);
const char *store_reservation_mounts(const struct store_reservation *r);
/* Set the mounts of a task or reservation held in a state to a copy of m
 * (NULL or "" = none). False, and nothing changed, when m is longer than
 * STORE_MOUNTS_MAX. */
bool store_task_set_mounts(struct store_task *t, const char *m);
bool store_reservation_set_mounts(struct store_reservation *r, const char *m);
/* Make *d, a task held in a state, a copy of *t (its mounts copied, d's
 * own freed; t may share d's). */
void store_task_assign(struct store_task *d, const struct store_task *t);
/* Same content, mounts compared as strings (change detection). */
bool store_task_same(const struct store_task *a, const struct store_task *b);
bool store_reservation_same(const struct store_reservation *a,
			    const struct store_reservation *b);
/* Deep copies of n entries (NULL when n is 0), and their release. */
struct store_task *store_tasks_dup(const struct store_task *v, size_t n);
void store_tasks_free(struct store_task *v, size_t n);
struct store_reservation *store_reservations_dup(const struct store_reservation *v, size_t n);
void store_reservations_free(struct store_reservation *v, size_t n);

/* The failure entry of (service, agent_id); created with zero counts when
 * create is true, else NULL when absent. NULL also for arguments that do
 * not fit the fields. */
struct store_failure *store_state_failure(struct store_state *s,
					  const char *service,
					  const char *agent_id, bool create);
/* Drop the failure entry of a slot (e.g. after it became healthy). */
bool store_state_clear_failure(struct store_state *s, const char *service,
			       const char *agent_id);

/* The reservation of (service, agent_id); created (zeroed but for the
 * keys) when create is true, else NULL when absent. NULL also for
 * arguments that do not fit the fields. Valid until the next insert or
 * remove. */
struct store_reservation *store_state_reservation(struct store_state *s,
						  const char *service,
						  const char *agent_id,
						  bool create);
/* Append the reservation of (service, agent_id) without looking for it
 * (state/stindex.c looked); NULL for arguments that do not fit. */
struct store_reservation *store_state_append_reservation(struct store_state *s,
							 const char *service,
							 const char *agent_id);
/* Drop a reservation (after its UNRESERVE went out); true when it was there. */
bool store_state_remove_reservation(struct store_state *s, const char *service,
				    const char *agent_id);

/* The drain of agent_id; created (zeroed but for the key) when create is
 * true, else NULL when absent. NULL also for an agent id that does not fit.
 * Valid until the next insert or remove. */
struct store_drain *store_state_drain(struct store_state *s, const char *agent_id,
				      bool create);
/* The drain that covers an agent: the entry of agent_id, else one whose
 * hostname is hostname (non-empty) -- an agent that comes back under a new
 * id on a drained host stays drained. NULL when none. */
struct store_drain *store_state_drain_covering(struct store_state *s, const char *agent_id,
					       const char *hostname);
/* Undrain: drop the entry; true when it was there. */
bool store_state_remove_drain(struct store_state *s, const char *agent_id);

/* ---- encoding ------------------------------------------------------ */

/* Serialise to JSON text ({"format":STORE_FORMAT,"format_version":1,
 * "version":<version>,...}); *out is NUL-terminated and owned by the caller
 * (free()). 0, or QM_ETOOBIG when the text would exceed STORE_MAX_BYTES. */
int store_state_to_json(const struct store_state *s, uint64_t version,
			char **out, size_t *len);
/* The same with format_version at least min_format (e.g.
 * STORE_FORMAT_VERSION_LOG); the content is the same. */
int store_state_to_json_fmt(const struct store_state *s, uint64_t version,
			    int min_format, char **out, size_t *len);
/* The same text into t (emptied first, its buffer reused: a caller that
 * encodes again and again keeps the pages of the last text instead of
 * faulting in new ones each time; at 10,000 agents a ZooKeeper save's
 * 5.5 MB text took 11-58 ms to encode into fresh memory). On error t is
 * empty, its buffer kept. */
struct jtext;
int store_state_to_jtext(const struct store_state *s, uint64_t version, int min_format,
			 struct jtext *t);
/* Parse text made by store_state_to_json into *s (initialised first; free
 * with store_state_fini, also after an error) and its version. Strict:
 * syntax errors, trailing bytes, wrong types, over-long strings, invalid
 * IDs and duplicate task IDs are QM_ECORRUPT with the reason in err, e.g.
 * "JSON syntax error at byte 123 near 'tasks\":[{'" (offsets count from
 * 0), "unexpected end of data at byte 4095, no closing '}' (truncated?)",
 * "tasks[7].task_id: duplicate 'x'";
 * a newer format_version is QM_EVERSION. */
int store_state_from_json(const char *buf, size_t len, struct store_state *s,
			  uint64_t *version, char *err, size_t errlen);

#endif
