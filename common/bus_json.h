/* JSON views of bus messages (cJSON), shared by `quobyte-prober --once
 * --json`, the test receiver and the coordinator's REST state, so all show a
 * device the same way. Keys are the proto field names; enums are lower-case
 * words: types ["registry","metadata","data"], state "ok"|"no_type"|"error".
 * Unset optional fields are left out; repeated fields always appear (maybe
 * []). uint64 values are JSON numbers (exact below 2^53), except the
 * envelope's "session": a random 64-bit value, so a double would lose its
 * low bits; it is a string of exactly 16 lower-case hex digits
 * ("00c0ffee12345678"), the form the prober logs (session=%016llx). Strings
 * that are not valid UTF-8 (paths are bytes) get U+FFFD for each bad byte,
 * so the document stays parseable. Returned objects are owned by the caller
 * (cJSON_Delete) and never NULL: out of memory aborts (qm_oom). Pure; any
 * thread. */
#ifndef QM_BUS_JSON_H
#define QM_BUS_JSON_H

#include "quobyte_bus.pb-c.h"

#include <cjson/cJSON.h>

cJSON *busjson_device(const Quobyte__Bus__Device *d);
cJSON *busjson_node(const Quobyte__Bus__NodeIdentity *n);
/* {"devices":[...],"client_mount_point":..,"client_mount_point_exists":..} */
cJSON *busjson_inventory(const Quobyte__Bus__Inventory *inv);
/* The whole envelope: {"protocol_version","node","generation","session"(hex),
 * "sent_unix_ms","kind":"snapshot|delta|heartbeat|ack|none", plus the body's
 * fields at top level: snapshot -> inventory fields; delta ->
 * base_generation, upserted, removed, client_mount_point(_exists);
 * heartbeat -> uptime_seconds; ack -> ack_generation, send_snapshot, error}. */
cJSON *busjson_envelope(const Quobyte__Bus__Envelope *env);

/* "registry"/"metadata"/"data"/"unknown"; "ok"/"no_type"/"error"/"unknown". */
const char *busjson_type_name(Quobyte__Bus__DeviceType t);
const char *busjson_state_name(Quobyte__Bus__DeviceState s);

#endif
