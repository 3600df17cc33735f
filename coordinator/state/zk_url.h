/* The zk:// URL of a ZooKeeper ensemble and a root znode (zk.h).
 *
 * zk://[user:password@]host[:port][,host[:port]...]/path
 *   - hosts as the C client takes them; a host without a port gets 2181;
 *   - /path is the coordinator's root znode (created on first use with its
 *     ancestors), e.g. zk://zk1:2181,zk2:2181,zk3:2181/quobyte;
 *   - user:password (either may be %XX-encoded, e.g. %40 for '@') turns on
 *     ZooKeeper "digest" authentication: the session authenticates as that
 *     user and every znode this process creates gets the ACL
 *     "auth:<user>:cdrwa" (ZOO_CREATOR_ALL_ACL), so nobody else can read or
 *     change the state or fake an election znode. Without credentials znodes
 *     are world-accessible (ZOO_OPEN_ACL_UNSAFE). Messages and logs never
 *     show the password (zk_conn_display masks it).
 *
 * Pure: no I/O. */
#ifndef QM_ZK_URL_H
#define QM_ZK_URL_H

#include <stddef.h>

#define ZK_DEFAULT_PORT 2181
#define ZK_HOSTS_MAX 1023
#define ZK_PATH_MAX 255
#define ZK_CRED_MAX 127
#define ZK_DISPLAY_MAX 1440

struct zk_url {
	char hosts[ZK_HOSTS_MAX + 1];       /* "h1:2181,h2:2181" */
	char path[ZK_PATH_MAX + 1];         /* "/quobyte", never "/" */
	char user[ZK_CRED_MAX + 1];         /* "" = no authentication */
	char password[ZK_CRED_MAX + 1];
	char display[ZK_DISPLAY_MAX + 1];   /* zk://user:***@hosts/path */
};

/* Parse and validate a zk:// URL (see above). 0, or QM_EINVAL with the
 * reason in err ("zk URL 'zk://a:b/x': invalid port 'b'"). The path's
 * components must be [A-Za-z0-9._-]+ and not "." or "..". Pure. */
int zk_url_parse(const char *url, struct zk_url *out, char *err, size_t errlen);

#endif
