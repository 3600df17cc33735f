/* The prober: one thread, one epoll loop over the event sources
 * (sources.h), the publisher's fds (publisher.h), a debounce timer, the
 * safety rescan timer and a signalfd.
 *
 * Events never rebuild directly: they arm the debounce timer (if it is not
 * armed already, so a steady stream cannot postpone a rebuild forever);
 * when it fires the whole inventory is rebuilt (scan.h) and compared with
 * the current one. Real differences bump the generation, log one line per
 * device and let the publisher send one delta; an unchanged inventory
 * sends nothing. A burst of events thus becomes one delta. */
#ifndef QM_PROBER_H
#define QM_PROBER_H

#include "bus.h"
#include "bus_tls.h"
#include "scan.h"
#include "sources.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct prober_opts {
	/* identity */
	const char *agent_id;
	const char *hostname;
	const char *boot_id;
	uint64_t session;
	/* publishing; coordinator NULL = run without one (log only) */
	const char *coordinator;
	struct bus_tls tls;         /* files for a tls+tcp:// coordinator */
	uint8_t cred[BUS_CRED_LEN];
	long long heartbeat_ms;
	long long ack_timeout_ms;
	long long reconnect_min_ms;
	long long reconnect_max_ms;
	/* scanning */
	struct scan_config scan;
	const char *host_root;      /* NULL = none */
	const char *mountinfo_path;
	enum src_udev_mode udev_mode;
	int udev_buffer;            /* netlink receive buffer, bytes */
	long long debounce_ms;
	long long rescan_ms;
	long long probe_timeout_ms; /* one scan's wait for its probes */
	/* live mode: also print the inventory as one JSON line per change */
	bool json;
};

/* Build the inventory once and print it as one JSON document on out.
 * 0, or a negative qm_err (mount table unreadable: QM_EIO). */
int prober_once(const struct prober_opts *o, FILE *out);

/* Run until SIGTERM/SIGINT (returns 0) or a fatal set-up error (negative
 * qm_err, logged). Blocks SIGTERM/SIGINT/SIGHUP in the calling thread
 * before any library thread starts, so they arrive on the signalfd;
 * SIGHUP forces a full resync. */
int prober_run(const struct prober_opts *o);

/* The kernel boot id (/proc/sys/kernel/random/boot_id) into buf. 0 or
 * QM_EIO. */
int prober_boot_id(char *buf, size_t cap);

#endif
