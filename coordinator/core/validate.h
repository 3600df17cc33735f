/* Validation of everything that ends up in a TaskInfo, and the coordinator's
 * task IDs.
 *
 * Grammar checks for image versions (Docker tag grammar), image names
 * (Docker reference grammar, no tag), hostnames (RFC 1123), Mesos IDs, host
 * paths, roles, and the values the task builders pass on (registry list,
 * IP, URLs, credential). Values are validated although nothing is ever
 * spliced into a shell string, because the quobyte-server image's entry
 * script echoes some of them into config files.
 *
 * Pure: no I/O, no clock, no globals; every function is reentrant, touches
 * only its arguments and allocates nothing. */
#ifndef QM_VALIDATE_H
#define QM_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TASKSPEC_ID_MAX 255          /* Mesos ID limit, bytes */
#define TASKSPEC_VERSION_MAX 128     /* Docker tag limit */
#define TASKSPEC_HOSTNAME_MAX 253
#define TASKSPEC_IMAGE_MAX 255       /* Docker name limit, without tag */
#define TASKSPEC_PATH_MAX 1024       /* host paths we bind-mount */
#define TASKSPEC_ROLE_MAX 255

/* ---- validation (all return false for NULL) ------------------------- */

/* Docker tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool taskspec_version_valid(const char *v);
/* RFC 1123 host name: dot-separated labels of 1..63 letters, digits and
 * '-', not starting or ending with '-'; at most 253 bytes; no trailing dot.
 * Dotted IPv4 addresses pass (they are valid labels). */
bool taskspec_hostname_valid(const char *h);
/* Mesos task/executor ID rules (§0): non-empty, <= 255 bytes, not "." or
 * "..", no control characters, no '/' or '\\'. */
bool taskspec_id_valid(const char *id);
/* Docker image reference without tag or digest: an optional registry host
 * ("host", "host.domain" or "host:port"; recognised as such when the first
 * component contains '.' or ':' or is "localhost") followed by '/'-separated
 * lower-case path components [a-z0-9]+ joined by '.', '_', "__" or runs of
 * '-'. At most 255 bytes. "quay.io/quobyte/quobyte-server" passes,
 * "Quobyte", "x:1.0", "a//b" do not. */
bool taskspec_image_valid(const char *image);
/* An absolute host path we are willing to bind-mount: starts with '/', at
 * most TASKSPEC_PATH_MAX bytes, no control characters, no "." or ".."
 * components, and none of ':' ',' (they would break Docker's volume
 * syntax). */
bool taskspec_path_valid(const char *path);
/* Mesos role name (§2): non-empty, <= 255 bytes, not "*", ".", "..", no
 * component starting with '-', no whitespace, backslash or control
 * characters. */
bool taskspec_role_valid(const char *role);

/* ---- task IDs ------------------------------------------------------- */

/* Write "quobyte-<service>.<hostname>.<16 hex digits of random>" into out
 * (cap >= TASKSPEC_ID_MAX + 1 always suffices). The hostname is sanitised to
 * letters, digits, '-', '.', '_' (others become '_'), cut to keep the ID
 * within 255 bytes, and "unknown" when empty or NULL. service must be
 * lower-case letters, at most 16. Returns 0, QM_EINVAL (bad service) or
 * QM_ETOOBIG (cap too small). The caller supplies randomness so this stays
 * pure; a fresh random per launch makes IDs unique per launch. */
int taskspec_task_id(const char *service, const char *hostname,
		     uint64_t random, char *out, size_t cap);
/* Split an ID made by taskspec_task_id() back into service and (sanitised)
 * hostname; either output may be NULL. Returns 0, or QM_EINVAL when id is
 * not of that shape (i.e. not one of ours), or QM_ETOOBIG when an output
 * does not fit. */
int taskspec_task_id_parse(const char *id, char *service, size_t scap,
			   char *hostname, size_t hcap);


/* ---- values of the configuration and of task parameters -------------- */

/* "http://..." or "https://...", at most 2048 bytes, without blanks or
 * control characters. */
bool taskspec_uri_valid(const char *u);
/* "name:tag" with a valid image name (taskspec_image_valid) and tag
 * (taskspec_version_valid). */
bool taskspec_image_ref_valid(const char *ref);
/* QUOBYTE_REGISTRY: host:port[,host:port] or a DNS name, at most 2048
 * bytes. The image's entry script writes it into a config file, so only
 * the characters that can appear in those forms pass (letters, digits and
 * ".-_:,[]"). */
bool taskspec_registry_valid(const char *s);
/* Characters of an IPv4 or IPv6 address (hex digits, '.', ':'), at most 45
 * bytes. */
bool taskspec_ip_valid(const char *s);
/* Exactly 64 hex digits (a node credential). */
bool taskspec_hex64_valid(const char *s);
/* A bus URL ("scheme://..."), at most 1024 bytes, no blanks or control
 * characters. */
bool taskspec_bus_url_valid(const char *u);

#endif
