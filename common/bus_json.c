#include "bus_json.h"

#include "qm_error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cJSON reports allocation failure by returning NULL; the project's policy
 * is to abort, so every view below is complete or the process is gone. */
static cJSON *must(cJSON *j)
{
	if (!j)
		qm_oom();
	return j;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Strings on the bus are bytes (paths, udev properties, marker values);
 * JSON text must be UTF-8. Invalid bytes become U+FFFD so every consumer
 * (python json, jq, browsers) can still read the rest of the document. */
static cJSON *json_string(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), bad = 0;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(u + i, n - i);
		if (l) {
			i += l;
		} else {
			bad++;
			i++;
		}
	}
	if (!bad)
		return must(cJSON_CreateString(s));
	char *fixed = qm_malloc(n + 2 * bad + 1);
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(u + i, n - i);
		if (l) {
			memcpy(fixed + o, s + i, l);
			o += l;
			i += l;
		} else {
			memcpy(fixed + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	fixed[o] = '\0';
	cJSON *j = must(cJSON_CreateString(fixed));
	free(fixed);
	return j;
}

static void add(cJSON *obj, const char *key, cJSON *item)
{
	if (!cJSON_AddItemToObject(obj, key, item))
		qm_oom();
}

static void add_str(cJSON *obj, const char *key, const char *s)
{
	if (s)
		add(obj, key, json_string(s));
}

static void add_bool(cJSON *obj, const char *key, protobuf_c_boolean has,
		     protobuf_c_boolean v)
{
	if (has)
		add(obj, key, must(cJSON_CreateBool(v ? 1 : 0)));
}

/* uint64 as a JSON number: cJSON holds doubles, exact up to 2^53, which
 * byte counts, generations and millisecond clocks stay far below. */
static void add_u64(cJSON *obj, const char *key, protobuf_c_boolean has, uint64_t v)
{
	if (has)
		add(obj, key, must(cJSON_CreateNumber((double)v)));
}

/* The session is a random 64-bit value: as a double it would lose its low
 * bits, so it goes out as a string of exactly 16 lower-case hex digits, the
 * form the prober logs ("session=%016llx"). */
static cJSON *session_string(uint64_t v)
{
	char hex[17];
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)v);
	return must(cJSON_CreateString(hex));
}

static cJSON *string_array(char **v, size_t n)
{
	cJSON *a = must(cJSON_CreateArray());
	for (size_t i = 0; i < n; i++)
		if (!cJSON_AddItemToArray(a, json_string(v[i] ? v[i] : "")))
			qm_oom();
	return a;
}

static cJSON *device_array(Quobyte__Bus__Device **v, size_t n)
{
	cJSON *a = must(cJSON_CreateArray());
	for (size_t i = 0; i < n; i++)
		if (v[i] && !cJSON_AddItemToArray(a, busjson_device(v[i])))
			qm_oom();
	return a;
}

const char *busjson_type_name(Quobyte__Bus__DeviceType t)
{
	switch (t) {
	case QUOBYTE__BUS__DEVICE_TYPE__REGISTRY: return "registry";
	case QUOBYTE__BUS__DEVICE_TYPE__METADATA: return "metadata";
	case QUOBYTE__BUS__DEVICE_TYPE__DATA: return "data";
	default: return "unknown";
	}
}

const char *busjson_state_name(Quobyte__Bus__DeviceState s)
{
	switch (s) {
	case QUOBYTE__BUS__DEVICE_STATE__OK: return "ok";
	case QUOBYTE__BUS__DEVICE_STATE__NO_TYPE: return "no_type";
	case QUOBYTE__BUS__DEVICE_STATE__ERROR: return "error";
	case QUOBYTE__BUS__DEVICE_STATE__PROBE_TIMEOUT: return "probe_timeout";
	default: return "unknown";
	}
}

cJSON *busjson_device(const Quobyte__Bus__Device *d)
{
	cJSON *o = must(cJSON_CreateObject());
	add_str(o, "key", d->key);
	add_str(o, "root", d->root);
	add(o, "aliases", string_array(d->aliases, d->n_aliases));
	add_bool(o, "is_directory", d->has_is_directory, d->is_directory);
	add_str(o, "block_device", d->block_device);
	add_str(o, "fs_type", d->fs_type);
	add_str(o, "fs_uuid", d->fs_uuid);
	add_str(o, "fs_label", d->fs_label);
	cJSON *types = must(cJSON_CreateArray());
	for (size_t i = 0; i < d->n_types; i++)
		if (!cJSON_AddItemToArray(types, must(cJSON_CreateString(
							 busjson_type_name(d->types[i])))))
			qm_oom();
	add(o, "types", types);
	if (d->has_state)
		add(o, "state", must(cJSON_CreateString(busjson_state_name(d->state))));
	add_str(o, "error", d->error);
	add_str(o, "serial", d->serial);
	add_str(o, "model", d->model);
	add_bool(o, "bootstrap", d->has_bootstrap, d->bootstrap);
	add_str(o, "device_id", d->device_id);
	add_bool(o, "legacy_marker", d->has_legacy_marker, d->legacy_marker);
	add_u64(o, "size_bytes", d->has_size_bytes, d->size_bytes);
	add_u64(o, "free_bytes", d->has_free_bytes, d->free_bytes);
	add_bool(o, "rotational", d->has_rotational, d->rotational);
	add_str(o, "udev_serial", d->udev_serial);
	add_str(o, "udev_wwn", d->udev_wwn);
	add_str(o, "udev_model", d->udev_model);
	add_str(o, "conflict", d->conflict);
	return o;
}

cJSON *busjson_node(const Quobyte__Bus__NodeIdentity *n)
{
	cJSON *o = must(cJSON_CreateObject());
	add_str(o, "agent_id", n->agent_id);
	add_str(o, "hostname", n->hostname);
	add_str(o, "boot_id", n->boot_id);
	return o;
}

/* The inventory's fields into obj; inv may be NULL (a snapshot without an
 * inventory is an empty node). */
static void inventory_fields(cJSON *o, const Quobyte__Bus__Inventory *inv)
{
	if (!inv) {
		add(o, "devices", must(cJSON_CreateArray()));
		return;
	}
	add(o, "devices", device_array(inv->devices, inv->n_devices));
	add_str(o, "client_mount_point", inv->client_mount_point);
	add_bool(o, "client_mount_point_exists", inv->has_client_mount_point_exists,
		 inv->client_mount_point_exists);
}

cJSON *busjson_inventory(const Quobyte__Bus__Inventory *inv)
{
	cJSON *o = must(cJSON_CreateObject());
	inventory_fields(o, inv);
	return o;
}

static const char *kind_name(Quobyte__Bus__Envelope__BodyCase c)
{
	switch (c) {
	case QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT: return "snapshot";
	case QUOBYTE__BUS__ENVELOPE__BODY_DELTA: return "delta";
	case QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT: return "heartbeat";
	case QUOBYTE__BUS__ENVELOPE__BODY_ACK: return "ack";
	default: return "none";
	}
}

cJSON *busjson_envelope(const Quobyte__Bus__Envelope *env)
{
	cJSON *o = must(cJSON_CreateObject());
	add_u64(o, "protocol_version", env->has_protocol_version, env->protocol_version);
	if (env->node)
		add(o, "node", busjson_node(env->node));
	add_u64(o, "generation", env->has_generation, env->generation);
	if (env->has_session)
		add(o, "session", session_string(env->session));
	add_u64(o, "sent_unix_ms", env->has_sent_unix_ms, env->sent_unix_ms);
	add(o, "kind", must(cJSON_CreateString(kind_name(env->body_case))));
	if (env->stats) {
		const Quobyte__Bus__ProberStats *s = env->stats;
		cJSON *st = must(cJSON_CreateObject());
		add_u64(st, "rebuilds", s->has_rebuilds, s->rebuilds);
		add_u64(st, "resyncs", s->has_resyncs, s->resyncs);
		add_u64(st, "udev_overflows", s->has_udev_overflows, s->udev_overflows);
		add_u64(st, "inotify_overflows", s->has_inotify_overflows, s->inotify_overflows);
		add_u64(st, "rss_bytes", s->has_rss_bytes, s->rss_bytes);
		add_u64(st, "messages_sent", s->has_messages_sent, s->messages_sent);
		add_u64(st, "send_failures", s->has_send_failures, s->send_failures);
		add(o, "stats", st);
	}

	switch (env->body_case) {
	case QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT:
		inventory_fields(o, env->snapshot ? env->snapshot->inventory : NULL);
		break;
	case QUOBYTE__BUS__ENVELOPE__BODY_DELTA: {
		const Quobyte__Bus__Delta *d = env->delta;
		if (!d) {
			add(o, "upserted", must(cJSON_CreateArray()));
			add(o, "removed", must(cJSON_CreateArray()));
			break;
		}
		add_u64(o, "base_generation", d->has_base_generation, d->base_generation);
		add(o, "upserted", device_array(d->upserted, d->n_upserted));
		add(o, "removed", string_array(d->removed, d->n_removed));
		add_str(o, "client_mount_point", d->client_mount_point);
		add_bool(o, "client_mount_point_exists", d->has_client_mount_point_exists,
			 d->client_mount_point_exists);
		break;
	}
	case QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT:
		if (env->heartbeat)
			add_u64(o, "uptime_seconds", env->heartbeat->has_uptime_seconds,
				env->heartbeat->uptime_seconds);
		break;
	case QUOBYTE__BUS__ENVELOPE__BODY_ACK:
		if (env->ack) {
			add_u64(o, "ack_generation", env->ack->has_generation,
				env->ack->generation);
			add_bool(o, "send_snapshot", env->ack->has_send_snapshot,
				 env->ack->send_snapshot);
			add_str(o, "error", env->ack->error);
		}
		break;
	default:
		break;
	}
	return o;
}
