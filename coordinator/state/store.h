/* The coordinator's durable state behind one backend-neutral interface.
 *
 * What is stored (struct store_state): the framework ID, the operator's
 * target version, an opaque deployment progress marker, the tasks the
 * coordinator launched (written BEFORE the ACCEPT that launches them, so a
 * restarted coordinator knows its tasks) and per-slot failure counters for
 * relaunch backoff. Device inventories are not stored: probers resend
 * snapshots.
 *
 * Versions: every successful save increments the state's version by one
 * (first save: 0 -> 1). store_save() is a compare-and-set: it succeeds only
 * when the caller's expected version is the store's current one, else
 * QM_ECONFLICT. A missing state (first start) is version 0 and empty.
 *
 * Never silently reset: a corrupt, truncated, oversized or unreadable state
 * is refused with a message that says what is wrong and how to reset it;
 * it is never treated as empty and never overwritten.
 *
 * Backends are selected by URL in store_open(): "file:///dir" or a plain
 * directory path (the file backend, below); "zk://[user:password@]host:port
 * [,host:port...]/path" is the ZooKeeper backend (store_zk.h; the URL,
 * digest credentials and ACLs are described in zk.h). A backend supplies
 * struct store_ops and wraps itself with store_new().
 *
 * File backend: <dir>/state.json, JSON text (store_state_to_json), written
 * atomically (temp file in the same directory, write, fsync, rename, fsync
 * of the directory) so a crash leaves the old or the new state, never a mix.
 * <dir>/state.lock is held with flock() while the store is open: a second
 * coordinator on the same directory is refused at open instead of racing.
 * A save also checks that state.json is still the file this store last
 * read or wrote (device, inode, size, mtime) and answers QM_ECONFLICT if
 * someone replaced it. Files are read up to STORE_MAX_BYTES.
 *
 * Threads: a store and a store_state are used by one thread at a time (the
 * coordinator's loop). load/save block on disk I/O including fsync. */
#ifndef QM_STORE_H
#define QM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_MAX_BYTES (64u << 20)   /* cap on a stored state's size */
#define STORE_FORMAT "quobyte-mesos-state"
#define STORE_FORMAT_VERSION 1        /* bumped on incompatible changes */

#define STORE_ID_MAX 255              /* Mesos ID limit */
#define STORE_SERVICE_MAX 16
#define STORE_VERSION_MAX 128         /* Docker tag limit */
#define STORE_STATE_NAME_MAX 31
#define STORE_PROGRESS_MAX 1023
#define STORE_TASK_PORTS 4
#define STORE_MOUNTS_MAX 2047

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
	 * older coordinator (nothing is replaced for them). */
	char mounts[STORE_MOUNTS_MAX + 1];
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

struct store_state {
	char framework_id[STORE_ID_MAX + 1];     /* "" until SUBSCRIBED */
	char target_version[STORE_VERSION_MAX + 1]; /* "" = no services wanted */
	char progress[STORE_PROGRESS_MAX + 1];   /* opaque to the store */
	struct store_task *tasks;
	size_t ntasks, tasks_cap;
	struct store_failure *failures;
	size_t nfailures, failures_cap;
};

/* ---- state in memory ------------------------------------------------ */

void store_state_init(struct store_state *s);
/* Free the arrays; *s is left initialised and empty. */
void store_state_fini(struct store_state *s);

/* Insert or replace (by task_id) a copy of *t. Returns the stored entry,
 * valid until the next insert or remove. NULL when t->task_id is empty or
 * a string field is not NUL-terminated within its array. */
struct store_task *store_state_put_task(struct store_state *s,
					const struct store_task *t);
/* The task with this ID or NULL; valid until the next insert or remove. */
struct store_task *store_state_find_task(struct store_state *s,
					 const char *task_id);
/* Remove a task; true when it was there. Order of the others is kept. */
bool store_state_remove_task(struct store_state *s, const char *task_id);

/* The failure entry of (service, agent_id); created with zero counts when
 * create is true, else NULL when absent. NULL also for arguments that do
 * not fit the fields. */
struct store_failure *store_state_failure(struct store_state *s,
					  const char *service,
					  const char *agent_id, bool create);
/* Drop the failure entry of a slot (e.g. after it became healthy). */
bool store_state_clear_failure(struct store_state *s, const char *service,
			       const char *agent_id);

/* Serialise to JSON text ({"format":STORE_FORMAT,"format_version":1,
 * "version":<version>,...}); *out is NUL-terminated and owned by the caller
 * (free()). 0, or QM_ETOOBIG when the text would exceed STORE_MAX_BYTES. */
int store_state_to_json(const struct store_state *s, uint64_t version,
			char **out, size_t *len);
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

/* ---- stores --------------------------------------------------------- */

struct store;

/* A backend. Each function gets the impl pointer given to store_new(). The
 * contracts are those of store_load/store_save/store_close below. */
struct store_ops {
	const char *name; /* "file", "zk" */
	int (*load)(void *impl, struct store_state *out, uint64_t *version,
		    char *err, size_t errlen);
	int (*save)(void *impl, const struct store_state *s, uint64_t expected,
		    uint64_t *new_version, char *err, size_t errlen);
	void (*close)(void *impl);
};

/* Wrap a backend; location is copied (for messages). Never NULL. */
struct store *store_new(const struct store_ops *ops, void *impl,
			const char *location);

/* Backend-private data of st if st was made with ops (store_new), else
 * NULL: how a backend's own functions find their data. */
void *store_impl(struct store *st, const struct store_ops *ops);

/* Open the store named by url: "file:///abs/dir", "file://localhost/dir" or
 * a plain directory path (created with mode 0700 when missing, its parent
 * must exist), or "zk://..." (store_zk_open with default timeouts: connects
 * in the background, never blocks here). Returns NULL with a message in err
 * when the URL is not understood, the directory cannot be used, or another
 * process holds it. Does not read the state (store_load does). Blocking for
 * the file backend. */
struct store *store_open(const char *url, char *err, size_t errlen);

/* Read the current state into *out (initialised first; free with
 * store_state_fini, also after an error) and its version (0 and empty when
 * nothing was ever saved). Errors: QM_ECORRUPT (corrupt or truncated,
 * err says where and that the state is kept), QM_ETOOBIG (over
 * STORE_MAX_BYTES), QM_EVERSION (written by a newer coordinator), QM_EIO
 * (cannot read, err has the OS reason); the ZooKeeper backend adds QM_EAUTH
 * (refused by ACLs) and QM_ETIMEDOUT (ensemble unreachable: retry). */
int store_load(struct store *st, struct store_state *out, uint64_t *version,
	       char *err, size_t errlen);

/* Save *s if the store is still at expected_version; *new_version (may be
 * NULL) gets expected_version + 1. Errors: QM_ECONFLICT (another version is
 * current, or the state was changed behind the store's back), QM_ECORRUPT
 * (the current state is corrupt: it is not overwritten), QM_ETOOBIG,
 * QM_EIO (ZooKeeper: also QM_EAUTH, QM_ETIMEDOUT). On any error the stored
 * state is unchanged, except that a ZooKeeper save whose connection broke
 * may or may not have happened (QM_EIO "outcome unknown"; the next save
 * re-reads and answers QM_ECONFLICT if it did). */
int store_save(struct store *st, const struct store_state *s,
	       uint64_t expected_version, uint64_t *new_version, char *err,
	       size_t errlen);

/* Release the store (and the file backend's lock). NULL is fine. */
void store_close(struct store *st);

/* Backend name ("file", "zk") and location (the directory; the zk:// URL
 * with the password masked) for logs. */
const char *store_backend(const struct store *st);
const char *store_location(const struct store *st);

#endif
