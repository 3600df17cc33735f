/* What master detection reads, parsed as Mesos parses it: --master (one
 * URL, a list, or a zk:// group), MasterInfo JSON from a json.info_ znode,
 * and the leading member of a masters' group from its children's names.
 * Pure: no I/O, no state; any thread. The detector (detector.h) includes
 * it; so may anything that validates --master (main.c's --check-config). */
#ifndef QM_DETSPEC_H
#define QM_DETSPEC_H

#include <stdbool.h>
#include <stddef.h>

#define DET_MAX_URLS 16
#define DET_URL_MAX  255

enum det_kind { DET_URLS, DET_ZK };

struct det_spec {
	enum det_kind kind;
	size_t nurls;                             /* DET_URLS: 1..DET_MAX_URLS */
	char urls[DET_MAX_URLS][DET_URL_MAX + 1]; /* normalised "http://h:p" */
	char zk[1024];                            /* DET_ZK: the zk:// URL */
	char scheme[8];                           /* "http"/"https" for zk leaders */
	char display[1100];                       /* for logs: password masked */
};

/* Parse --master. `scheme` ("http" or "https", NULL = "http") is what
 * leaders detected through ZooKeeper are spoken to with. 0, or QM_EINVAL
 * with one line in err naming the bad part ("master list entry 2
 * 'ftp://x': ..."). Pure. */
int det_spec_parse(const char *master, const char *scheme, struct det_spec *out, char *err,
		   size_t errlen);

struct det_leader {
	char url[DET_URL_MAX + 1]; /* "http://10.0.0.1:5050" */
	char id[128];              /* MasterInfo.id, "" if unknown */
	char version[32];          /* MasterInfo.version, "" if unknown */
	char hostname[256];        /* MasterInfo.hostname or address.hostname */
};

/* MasterInfo JSON (as in a json.info_ znode) -> leader. The address is
 * MasterInfo.address {ip, port} when present, else MasterInfo.pid
 * ("master@ip:port"), else the deprecated MasterInfo.ip (a uint32 holding
 * the address in network byte order) + port, else hostname + port. At most
 * 64 KiB of input. 0 or QM_EINVAL with err ("not JSON: ...", "no address:
 * none of address.ip, pid, ip or hostname with a port"). Pure. */
int det_masterinfo_parse(const char *json, size_t len, const char *scheme, struct det_leader *out,
			 char *err, size_t errlen);

/* The leading member of a masters' group, from the names of the group
 * znode's children, chosen as Mesos chooses it (1.4.0 ... 1.11.0):
 * src/zookeeper/group.cpp GroupProcess::cache() splits each name at '_'
 * (stout strings::tokenize: empty pieces dropped), the first piece is the
 * label when there are two or more, the last piece is the sequence
 * (numify<int32_t>; a child whose last piece is not a number, such as
 * "log_replicas", is no member); src/zookeeper/detector.cpp
 * LeaderDetectorProcess::watched() elects the member with the smallest
 * sequence, whatever its label. Returns the leader's index into names (its
 * label in label, "" for none, cut to labelcap) or -1 when no child is a
 * member. Pure. */
long det_group_leader(const char *const *names, size_t n, char *label, size_t labelcap);

#endif
