/* The master's event stream into the coordinator: the input is a RecordIO
 * byte stream (tests/fuzz/seeds/events/: recorded from the Mesos emulator by
 * tests/fuzz/record_stream.py), decoded by the real decoder
 * (mesos/recordio.c) and every record dispatched as the Mesos client's
 * on_record (mesos/subscribe.c) does it -- SUBSCRIBED to the subscribed
 * handler, ERROR to the error handler, everything else to the event
 * handler of events_mesos_handlers (shell/events.c) -- so events arrive in
 * any order, repeated, half-formed or unknown. OFFERS plan at once
 * (coord_plan, shell/planning.c); the replans they post run too, by
 * running the loop dry after the stream.
 *
 * The coordinator is built per input, as coord_run builds it but without
 * anything that reaches out: the options' defaults (coord_config_defaults),
 * a file store in a temporary directory (on /dev/shm when there is one),
 * a loop that is only run dry, a Mesos client that is never started (its
 * mesos_send() drops every call with QM_EAGAIN), no bus or REST listener.
 * Its state starts from one baseline -- a framework id, prober and service
 * tasks on the recorded agents, prober inventories taken in through the bus
 * handler -- saved before each input, so an input always meets the same
 * coordinator. Logging is off (QM_FUZZ_LOG=debug|info|warn|error turns it
 * on when reproducing).
 *
 * Contracts checked after each input: the state still serialises and
 * parses (store_state_to_json), and every task in it has an id and an
 * agent. */
#include "fuzz_common.h"

#include "log.h"
#include "mesos/recordio.h"
#include "qm_error.h"
#include "shell/coord_options.h"
#include "shell/coord_priv.h"
#include "state/store_file.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The ids tests/fuzz/record_stream.py gives the emulator's recordings (it
 * rewrites the emulator's random UUIDs to these, length for length). */
#define FW_ID "00000000-0000-4000-8000-000000000001-0000"
#define AGENT_A "00000000-0000-4000-8000-000000000002-S0"
#define AGENT_B "00000000-0000-4000-8000-000000000002-S1"
#define PROBER_A "quobyte-prober.node-a.00000000000000a1"
#define PROBER_B "quobyte-prober.node-b.00000000000000b1"
#define DATA_B "quobyte-data.node-b.00000000000000b2"

/* the largest record the harness takes: libFuzzer's inputs stay far below
 * the client's 16 MiB, so a smaller cap also reaches the too-big path */
#define FUZZ_RECORD_CAP (256u * 1024)

static struct coord_config cfg;
static char dir[256];

static void put_task(struct store_state *st, const char *id, const char *service,
		     const char *agent, const char *host, const char *state)
{
	struct store_task t;
	memset(&t, 0, sizeof t);
	snprintf(t.task_id, sizeof t.task_id, "%s", id);
	snprintf(t.service, sizeof t.service, "%s", service);
	snprintf(t.agent_id, sizeof t.agent_id, "%s", agent);
	snprintf(t.hostname, sizeof t.hostname, "%s", host);
	snprintf(t.state, sizeof t.state, "%s", state);
	t.launched_ms = 1000;
	FUZZ_CHECK(store_state_put_task(st, &t));
}

/* A prober's snapshot as it arrives on the bus (what busd hands over after
 * the frame is verified), through the real bus handler. */
static void inventory(struct coord *c, const char *agent, const char *host,
		      const char *roots[], const Quobyte__Bus__DeviceType types[], size_t n,
		      bool bootstrap)
{
	Quobyte__Bus__Envelope env = QUOBYTE__BUS__ENVELOPE__INIT;
	Quobyte__Bus__NodeIdentity node = QUOBYTE__BUS__NODE_IDENTITY__INIT;
	Quobyte__Bus__Snapshot snap = QUOBYTE__BUS__SNAPSHOT__INIT;
	Quobyte__Bus__Inventory inv = QUOBYTE__BUS__INVENTORY__INIT;
	Quobyte__Bus__Device dev[4];
	Quobyte__Bus__Device *devp[4];
	Quobyte__Bus__DeviceType ty[4];
	for (size_t i = 0; i < n && i < 4; i++) {
		quobyte__bus__device__init(&dev[i]);
		dev[i].key = (char *)roots[i];
		dev[i].root = (char *)roots[i];
		dev[i].has_state = 1;
		dev[i].state = QUOBYTE__BUS__DEVICE_STATE__OK;
		ty[i] = types[i];
		dev[i].types = &ty[i];
		dev[i].n_types = 1;
		dev[i].has_bootstrap = bootstrap && types[i] == QUOBYTE__BUS__DEVICE_TYPE__REGISTRY;
		dev[i].bootstrap = dev[i].has_bootstrap;
		devp[i] = &dev[i];
	}
	inv.devices = devp;
	inv.n_devices = n;
	snap.inventory = &inv;
	node.agent_id = (char *)agent;
	node.hostname = (char *)host;
	env.node = &node;
	env.has_protocol_version = 1;
	env.protocol_version = 1;
	env.has_session = 1;
	env.session = 7;
	env.has_generation = 1;
	env.generation = 1;
	env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT;
	env.snapshot = &snap;
	Quobyte__Bus__Ack ack = QUOBYTE__BUS__ACK__INIT;
	events_on_bus(c, agent, &env, &ack);
}

/* The baseline every input starts from, saved into the empty store. */
static void baseline(struct coord *c)
{
	store_state_fini(&c->st);
	store_state_init(&c->st);
	snprintf(c->st.framework_id, sizeof c->st.framework_id, "%s", FW_ID);
	snprintf(c->st.target_version, sizeof c->st.target_version, "%s", "3.1.0");
	snprintf(c->st.progress, sizeof c->st.progress, "bus_url=%s", c->bus_url);
	put_task(&c->st, PROBER_A, "prober", AGENT_A, "node-a", "TASK_RUNNING");
	put_task(&c->st, PROBER_B, "prober", AGENT_B, "node-b", "TASK_RUNNING");
	put_task(&c->st, DATA_B, "data", AGENT_B, "node-b", "TASK_STAGING");
	FUZZ_CHECK(coord_save(c) == 0);
	for (size_t i = 0; i < c->st.ntasks; i++)
		health_set(c, c->st.tasks[i].task_id, PLAN_HEALTH_UNKNOWN);
	const char *ra[] = {"/srv/quobyte/reg", "/srv/quobyte/data1"};
	const Quobyte__Bus__DeviceType ta[] = {QUOBYTE__BUS__DEVICE_TYPE__REGISTRY,
					       QUOBYTE__BUS__DEVICE_TYPE__DATA};
	inventory(c, AGENT_A, "node-a", ra, ta, 2, true);
	const char *rb[] = {"/mnt/d1", "/mnt/d2"};
	const Quobyte__Bus__DeviceType tb[] = {QUOBYTE__BUS__DEVICE_TYPE__DATA,
					       QUOBYTE__BUS__DEVICE_TYPE__METADATA};
	inventory(c, AGENT_B, "node-b", rb, tb, 2, false);
}

/* As coord_run's start-up steps, minus everything that listens, dials or
 * handles signals. */
static void coord_build(struct coord *c)
{
	char err[512] = "";
	coord_init(c, &cfg);
	FUZZ_CHECK(setup_config(c) == 0);
	FUZZ_CHECK(store_file_open(dir, &c->store, err, sizeof err) == 0);
	FUZZ_CHECK(store_load(c->store, &c->st, &c->st_version, err, sizeof err) == 0);
	FUZZ_CHECK(setup_bus(c) == 0);
	c->loop = ev_loop_new();
	FUZZ_CHECK(c->loop != NULL);
	struct mesos_config mcfg = {
		.master = cfg.master,
		.user = cfg.user,
		.name = cfg.framework_name,
		.role = cfg.role,
		.hostname = c->hostname,
	};
	c->mc = mesos_new(c->loop, &mcfg, &events_mesos_handlers, c);
	FUZZ_CHECK(c->mc != NULL);
	c->leading = true; /* start_acting without the bus listener and SUBSCRIBE */
	baseline(c);
}

/* Run what the handlers posted (replans) and timers due now, until
 * nothing is left; a bounded number of rounds, since a replan may post
 * again. */
static void run_dry(struct coord *c)
{
	for (int i = 0; i < 4; i++) {
		ev_stop(c->loop);
		FUZZ_CHECK(ev_run(c->loop) == 0);
	}
}

/* mesos/subscribe.c on_record, against the coordinator's handlers: a
 * record that is not JSON or has no type is skipped, SUBSCRIBED needs a
 * framework id, ERROR ends the stream (as the client drops it). */
struct feed {
	struct coord *c;
	size_t records;
};

static int on_record(void *arg, const char *rec, size_t len)
{
	struct feed *f = arg;
	FUZZ_CHECK(rec[len] == '\0');
	f->records++;
	cJSON *ev = cJSON_ParseWithLength(rec, len);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	int rv = 0;
	if (!cJSON_IsString(type)) {
		cJSON_Delete(ev);
		return 0;
	}
	const struct mesos_handlers *h = &events_mesos_handlers;
	const char *t = type->valuestring;
	if (strcmp(t, "SUBSCRIBED") == 0) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "subscribed");
		const char *fid = mesos_subscribed_framework_id(ev); /* as the client */
		const cJSON *hb = cJSON_GetObjectItemCaseSensitive(s, "heartbeat_interval_seconds");
		if (fid)
			h->subscribed(f->c, fid,
				      cJSON_IsNumber(hb) && hb->valuedouble > 0 ? hb->valuedouble
										: 15.0,
				      ev);
		else
			rv = 1;
	} else if (strcmp(t, "ERROR") == 0) {
		const char *msg = json_str(cJSON_GetObjectItemCaseSensitive(ev, "error"), "message");
		h->error(f->c, msg ? msg : "(no message)");
		h->disconnected(f->c, "master sent ERROR");
		rv = 1;
	} else {
		/* every other record as a big one is handled: its offers read
		 * first (on the client's parser thread, mesos.h), the rest on
		 * the loop */
		void *pre = f->records % 2 == 0 && h->prepare ? h->prepare(ev) : NULL;
		h->event(f->c, t, ev, pre);
		if (pre)
			h->prepared_free(pre);
	}
	cJSON_Delete(ev);
	return rv;
}

static void check_state(struct coord *c)
{
	for (size_t i = 0; i < c->st.ntasks; i++) {
		FUZZ_CHECK(c->st.tasks[i].task_id[0] != '\0');
		FUZZ_CHECK(FUZZ_TERMINATED(c->st.tasks[i].agent_id));
	}
	char *text = NULL;
	size_t len = 0;
	if (store_state_to_json(&c->st, c->st_version, &text, &len) == 0) {
		struct store_state again;
		uint64_t v = 0;
		char err[256];
		FUZZ_CHECK(store_state_from_json(text, len, &again, &v, err, sizeof err) == 0);
		FUZZ_CHECK(again.ntasks == c->st.ntasks);
		store_state_fini(&again);
	}
	free(text);
}

/* Every input starts from an empty store: what the last input saved would
 * be read back (and its record log replayed, growing until compaction)
 * by the next one, each input slower than the one before. */
static void forget_state(void)
{
	char p[320];
	snprintf(p, sizeof p, "%s/%s", dir, STORE_FILE_STATE);
	unlink(p);
	snprintf(p, sizeof p, "%s/%s", dir, STORE_FILE_LOG);
	unlink(p);
}

static void cleanup(void)
{
	char p[320];
	forget_state();
	snprintf(p, sizeof p, "%s/%s", dir, STORE_FILE_LOCK);
	unlink(p);
	snprintf(p, sizeof p, "%s/bus.secret", dir);
	unlink(p);
	rmdir(dir);
	coord_config_free(&cfg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	qm_cjson_policy();
	enum log_level lvl = LOG_ERROR;
	const char *want = getenv("QM_FUZZ_LOG");
	if (!want || log_level_parse(want, &lvl) != 0)
		lvl = (enum log_level)(LOG_ERROR + 1); /* nothing is printed */
	log_set_level(lvl);
	char err[512];
	FUZZ_CHECK(coord_config_defaults(&cfg, err, sizeof err) == 0);
	fuzz_mkdtemp(dir, sizeof dir, "qm-fuzz-events");
	/* what the harness needs that has no default */
	free(cfg.state_dir);
	cfg.state_dir = qm_strdup(dir);
	cfg.master = qm_strdup("http://127.0.0.1:1"); /* never dialled */
	/* every offer's launches in a slice of their own (planning.c, struct
	 * carry): an input that launches on two offers runs the slices, and a
	 * second OFFERS record finishes them first */
	cfg.launch_slice = 0;
	free(cfg.http_listen);
	cfg.http_listen = qm_strdup("127.0.0.1:0");
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coord cs;
	struct coord *c = &cs;
	forget_state();
	coord_build(c);
	run_dry(c); /* the baseline's replans */

	struct recordio r;
	recordio_init(&r, FUZZ_RECORD_CAP);
	struct feed f = {.c = c};
	int rv = recordio_feed(&r, (const char *)data, size, on_record, &f);
	if (rv != 0 && rv != 1)
		FUZZ_CHECK(recordio_error(&r) && recordio_error(&r)[0]);
	recordio_fini(&r);
	run_dry(c);
	check_state(c);

	c->stopping = true; /* coord_free runs the loop once more */
	coord_free(c);
	return 0;
}
