/* JSON views of bus messages: key names, enum words, unset fields left out,
 * repeated fields always present, and output that stays valid UTF-8. */
#include "bus_json.h"
#include "qm_error.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static cJSON *field(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static void assert_str(const cJSON *o, const char *key, const char *want)
{
	const cJSON *v = field(o, key);
	cr_assert(cJSON_IsString(v), "%s is not a string", key);
	cr_assert_str_eq(v->valuestring, want, "%s", key);
}

static void assert_num(const cJSON *o, const char *key, double want)
{
	const cJSON *v = field(o, key);
	cr_assert(cJSON_IsNumber(v), "%s is not a number", key);
	cr_assert_eq(v->valuedouble, want, "%s: %f", key, v->valuedouble);
}

static void assert_bool(const cJSON *o, const char *key, bool want)
{
	const cJSON *v = field(o, key);
	cr_assert(cJSON_IsBool(v), "%s is not a boolean", key);
	cr_assert_eq(cJSON_IsTrue(v), want, "%s", key);
}

static void assert_absent(const cJSON *o, const char *key)
{
	cr_assert_null(field(o, key), "%s should be left out", key);
}

static void assert_empty_array(const cJSON *o, const char *key)
{
	const cJSON *v = field(o, key);
	cr_assert(cJSON_IsArray(v), "%s is not an array", key);
	cr_assert_eq(cJSON_GetArraySize(v), 0, "%s", key);
}

Test(bus_json, full_device)
{
	Quobyte__Bus__Device d = QUOBYTE__BUS__DEVICE__INIT;
	char *aliases[] = {"/mnt/bind1", "/srv/bind2"};
	Quobyte__Bus__DeviceType types[] = {QUOBYTE__BUS__DEVICE_TYPE__REGISTRY,
					    QUOBYTE__BUS__DEVICE_TYPE__DATA};
	d.key = "wwn:0x5000c500a1b2c3d4/S2HRNX0H512345";
	d.root = "/mnt/disk1";
	d.aliases = aliases;
	d.n_aliases = 2;
	d.has_is_directory = 1;
	d.is_directory = 0;
	d.block_device = "/dev/sdb1";
	d.fs_type = "xfs";
	d.fs_uuid = "7f1c9a2e-1111-2222-3333-444455556666";
	d.fs_label = "qdata1";
	d.types = types;
	d.n_types = 2;
	d.has_state = 1;
	d.state = QUOBYTE__BUS__DEVICE_STATE__OK;
	d.serial = "S2HRNX0H512345";
	d.model = "INTEL SSDSC2BB480G4";
	d.has_bootstrap = 1;
	d.bootstrap = 1;
	d.device_id = "12";
	d.has_legacy_marker = 1;
	d.legacy_marker = 0;
	d.has_size_bytes = 1;
	d.size_bytes = 480103981056ull;
	d.has_free_bytes = 1;
	d.free_bytes = 0;
	d.has_rotational = 1;
	d.rotational = 1;
	d.udev_serial = "INTEL_SSDSC2BB480G4_BTWL1234";
	d.udev_wwn = "0x5000c500a1b2c3d4";
	d.udev_model = "INTEL_SSDSC2BB480G4";
	d.conflict = "serial also on /mnt/disk2";

	cJSON *j = busjson_device(&d);
	cr_assert_not_null(j);
	assert_str(j, "key", "wwn:0x5000c500a1b2c3d4/S2HRNX0H512345");
	assert_str(j, "root", "/mnt/disk1");
	const cJSON *al = field(j, "aliases");
	cr_assert_eq(cJSON_GetArraySize(al), 2);
	cr_assert_str_eq(cJSON_GetArrayItem(al, 1)->valuestring, "/srv/bind2");
	assert_bool(j, "is_directory", false);
	assert_str(j, "block_device", "/dev/sdb1");
	assert_str(j, "fs_type", "xfs");
	assert_str(j, "fs_uuid", "7f1c9a2e-1111-2222-3333-444455556666");
	assert_str(j, "fs_label", "qdata1");
	const cJSON *ty = field(j, "types");
	cr_assert_eq(cJSON_GetArraySize(ty), 2);
	cr_assert_str_eq(cJSON_GetArrayItem(ty, 0)->valuestring, "registry");
	cr_assert_str_eq(cJSON_GetArrayItem(ty, 1)->valuestring, "data");
	assert_str(j, "state", "ok");
	assert_absent(j, "error");
	assert_str(j, "serial", "S2HRNX0H512345");
	assert_str(j, "model", "INTEL SSDSC2BB480G4");
	assert_bool(j, "bootstrap", true);
	assert_str(j, "device_id", "12");
	assert_bool(j, "legacy_marker", false);
	assert_num(j, "size_bytes", 480103981056.0);
	assert_num(j, "free_bytes", 0);
	assert_bool(j, "rotational", true);
	assert_str(j, "udev_serial", "INTEL_SSDSC2BB480G4_BTWL1234");
	assert_str(j, "udev_wwn", "0x5000c500a1b2c3d4");
	assert_str(j, "udev_model", "INTEL_SSDSC2BB480G4");
	assert_str(j, "conflict", "serial also on /mnt/disk2");
	cJSON_Delete(j);
}

/* An empty device: only the repeated fields appear, as []. */
Test(bus_json, unset_fields_left_out)
{
	Quobyte__Bus__Device d = QUOBYTE__BUS__DEVICE__INIT;
	cJSON *j = busjson_device(&d);
	cr_assert_eq(cJSON_GetArraySize(j), 2, "only aliases and types");
	assert_empty_array(j, "aliases");
	assert_empty_array(j, "types");
	static const char *const absent[] = {"key", "root", "is_directory", "state", "bootstrap",
					     "size_bytes", "free_bytes", "rotational", "error",
					     "device_id"};
	for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
		assert_absent(j, absent[i]);
	cJSON_Delete(j);
}

Test(bus_json, enum_words)
{
	cr_assert_str_eq(busjson_type_name(QUOBYTE__BUS__DEVICE_TYPE__REGISTRY), "registry");
	cr_assert_str_eq(busjson_type_name(QUOBYTE__BUS__DEVICE_TYPE__METADATA), "metadata");
	cr_assert_str_eq(busjson_type_name(QUOBYTE__BUS__DEVICE_TYPE__DATA), "data");
	cr_assert_str_eq(busjson_type_name(QUOBYTE__BUS__DEVICE_TYPE__DEVICE_TYPE_UNKNOWN),
			 "unknown");
	cr_assert_str_eq(busjson_type_name((Quobyte__Bus__DeviceType)42), "unknown");
	cr_assert_str_eq(busjson_state_name(QUOBYTE__BUS__DEVICE_STATE__OK), "ok");
	cr_assert_str_eq(busjson_state_name(QUOBYTE__BUS__DEVICE_STATE__NO_TYPE), "no_type");
	cr_assert_str_eq(busjson_state_name(QUOBYTE__BUS__DEVICE_STATE__ERROR), "error");
	cr_assert_str_eq(busjson_state_name(QUOBYTE__BUS__DEVICE_STATE__PROBE_TIMEOUT),
			 "probe_timeout");
	cr_assert_str_eq(busjson_state_name(QUOBYTE__BUS__DEVICE_STATE__DEVICE_STATE_UNKNOWN),
			 "unknown");
	cr_assert_str_eq(busjson_state_name((Quobyte__Bus__DeviceState)-1), "unknown");
}

Test(bus_json, error_device)
{
	Quobyte__Bus__Device d = QUOBYTE__BUS__DEVICE__INIT;
	d.key = "path:/var/lib/quobyte/devices/x";
	d.has_state = 1;
	d.state = QUOBYTE__BUS__DEVICE_STATE__ERROR;
	d.error = "line 4: unknown device.type 'DATTA'";
	cJSON *j = busjson_device(&d);
	assert_str(j, "state", "error");
	assert_str(j, "error", "line 4: unknown device.type 'DATTA'");
	cJSON_Delete(j);
}

Test(bus_json, node)
{
	Quobyte__Bus__NodeIdentity n = QUOBYTE__BUS__NODE_IDENTITY__INIT;
	n.agent_id = "20231125-0001-S0";
	n.hostname = "node-7";
	cJSON *j = busjson_node(&n);
	assert_str(j, "agent_id", "20231125-0001-S0");
	assert_str(j, "hostname", "node-7");
	assert_absent(j, "boot_id");
	cJSON_Delete(j);
}

Test(bus_json, inventory)
{
	Quobyte__Bus__Device d1 = QUOBYTE__BUS__DEVICE__INIT, d2 = QUOBYTE__BUS__DEVICE__INIT;
	d1.key = "uuid:1";
	d2.key = "uuid:2";
	Quobyte__Bus__Device *devs[] = {&d1, &d2};
	Quobyte__Bus__Inventory inv = QUOBYTE__BUS__INVENTORY__INIT;
	inv.devices = devs;
	inv.n_devices = 2;
	inv.client_mount_point = "/quobyte";
	inv.has_client_mount_point_exists = 1;
	inv.client_mount_point_exists = 0;
	cJSON *j = busjson_inventory(&inv);
	const cJSON *a = field(j, "devices");
	cr_assert_eq(cJSON_GetArraySize(a), 2);
	assert_str(cJSON_GetArrayItem(a, 1), "key", "uuid:2");
	assert_str(j, "client_mount_point", "/quobyte");
	assert_bool(j, "client_mount_point_exists", false);
	cJSON_Delete(j);

	Quobyte__Bus__Inventory empty = QUOBYTE__BUS__INVENTORY__INIT;
	j = busjson_inventory(&empty);
	assert_empty_array(j, "devices");
	assert_absent(j, "client_mount_point");
	assert_absent(j, "client_mount_point_exists");
	cJSON_Delete(j);
}

static void header(Quobyte__Bus__Envelope *env, Quobyte__Bus__NodeIdentity *n)
{
	env->has_protocol_version = 1;
	env->protocol_version = 1;
	env->node = n;
	env->has_generation = 1;
	env->generation = 42;
	env->has_session = 1;
	/* above 2^53, odd: a double would round it */
	env->session = 0xfeedbeefcafe1235ull;
	env->has_sent_unix_ms = 1;
	env->sent_unix_ms = 1700000000123ull;
}

Test(bus_json, envelope_snapshot)
{
	Quobyte__Bus__NodeIdentity n = QUOBYTE__BUS__NODE_IDENTITY__INIT;
	n.agent_id = "S0";
	Quobyte__Bus__Device d = QUOBYTE__BUS__DEVICE__INIT;
	d.key = "uuid:1";
	Quobyte__Bus__Device *devs[] = {&d};
	Quobyte__Bus__Inventory inv = QUOBYTE__BUS__INVENTORY__INIT;
	inv.devices = devs;
	inv.n_devices = 1;
	inv.client_mount_point = "/quobyte";
	Quobyte__Bus__Snapshot s = QUOBYTE__BUS__SNAPSHOT__INIT;
	s.inventory = &inv;
	Quobyte__Bus__Envelope env = QUOBYTE__BUS__ENVELOPE__INIT;
	header(&env, &n);
	env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_SNAPSHOT;
	env.snapshot = &s;

	cJSON *j = busjson_envelope(&env);
	assert_num(j, "protocol_version", 1);
	assert_str(field(j, "node"), "agent_id", "S0");
	assert_num(j, "generation", 42);
	assert_str(j, "session", "feedbeefcafe1235");
	assert_num(j, "sent_unix_ms", 1700000000123.0);
	assert_str(j, "kind", "snapshot");
	cr_assert_eq(cJSON_GetArraySize(field(j, "devices")), 1);
	assert_str(j, "client_mount_point", "/quobyte");
	assert_absent(j, "client_mount_point_exists");
	assert_absent(j, "upserted");
	cJSON_Delete(j);

	/* a snapshot without an inventory is an empty node */
	s.inventory = NULL;
	j = busjson_envelope(&env);
	assert_empty_array(j, "devices");
	cJSON_Delete(j);
}

/* The session is random over all 64 bits: it must come out exactly, with
 * its leading zeros, whatever the reader's number type. */
Test(bus_json, envelope_session_exact)
{
	static const struct {
		uint64_t v;
		const char *want;
	} cases[] = {
		{0, "0000000000000000"},
		{1, "0000000000000001"},
		{(1ull << 53) + 1, "0020000000000001"},
		{UINT64_MAX, "ffffffffffffffff"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Quobyte__Bus__Envelope env = QUOBYTE__BUS__ENVELOPE__INIT;
		env.has_session = 1;
		env.session = cases[i].v;
		cJSON *j = busjson_envelope(&env);
		assert_str(j, "session", cases[i].want);
		cJSON_Delete(j);
	}
	Quobyte__Bus__Envelope none = QUOBYTE__BUS__ENVELOPE__INIT;
	cJSON *j = busjson_envelope(&none);
	assert_absent(j, "session");
	cJSON_Delete(j);
}

Test(bus_json, envelope_delta)
{
	Quobyte__Bus__Device d = QUOBYTE__BUS__DEVICE__INIT;
	d.key = "uuid:new";
	Quobyte__Bus__Device *devs[] = {&d};
	char *removed[] = {"uuid:old"};
	Quobyte__Bus__Delta delta = QUOBYTE__BUS__DELTA__INIT;
	delta.has_base_generation = 1;
	delta.base_generation = 41;
	delta.upserted = devs;
	delta.n_upserted = 1;
	delta.removed = removed;
	delta.n_removed = 1;
	delta.has_client_mount_point_exists = 1;
	delta.client_mount_point_exists = 1;
	Quobyte__Bus__Envelope env = QUOBYTE__BUS__ENVELOPE__INIT;
	header(&env, NULL);
	env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_DELTA;
	env.delta = &delta;
	cJSON *j = busjson_envelope(&env);
	assert_str(j, "kind", "delta");
	assert_absent(j, "node");
	assert_num(j, "base_generation", 41);
	assert_str(cJSON_GetArrayItem(field(j, "upserted"), 0), "key", "uuid:new");
	cr_assert_str_eq(cJSON_GetArrayItem(field(j, "removed"), 0)->valuestring, "uuid:old");
	assert_bool(j, "client_mount_point_exists", true);
	assert_absent(j, "client_mount_point");
	assert_absent(j, "devices");
	cJSON_Delete(j);

	Quobyte__Bus__Delta empty = QUOBYTE__BUS__DELTA__INIT;
	env.delta = &empty;
	j = busjson_envelope(&env);
	assert_empty_array(j, "upserted");
	assert_empty_array(j, "removed");
	assert_absent(j, "base_generation");
	cJSON_Delete(j);
}

Test(bus_json, envelope_heartbeat_and_ack)
{
	Quobyte__Bus__Heartbeat hb = QUOBYTE__BUS__HEARTBEAT__INIT;
	hb.has_uptime_seconds = 1;
	hb.uptime_seconds = 3600;
	Quobyte__Bus__Envelope env = QUOBYTE__BUS__ENVELOPE__INIT;
	header(&env, NULL);
	env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	cJSON *j = busjson_envelope(&env);
	assert_str(j, "kind", "heartbeat");
	assert_num(j, "uptime_seconds", 3600);
	cJSON_Delete(j);

	Quobyte__Bus__Ack ack = QUOBYTE__BUS__ACK__INIT;
	ack.has_generation = 1;
	ack.generation = 42;
	ack.has_send_snapshot = 1;
	ack.send_snapshot = 1;
	ack.error = "unknown base generation 40";
	env.body_case = QUOBYTE__BUS__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	j = busjson_envelope(&env);
	assert_str(j, "kind", "ack");
	assert_num(j, "ack_generation", 42);
	assert_bool(j, "send_snapshot", true);
	assert_str(j, "error", "unknown base generation 40");
	cJSON_Delete(j);

	Quobyte__Bus__Ack bare = QUOBYTE__BUS__ACK__INIT;
	env.ack = &bare;
	j = busjson_envelope(&env);
	assert_absent(j, "ack_generation");
	assert_absent(j, "send_snapshot");
	assert_absent(j, "error");
	cJSON_Delete(j);
}

Test(bus_json, envelope_without_body_or_header)
{
	Quobyte__Bus__Envelope env = QUOBYTE__BUS__ENVELOPE__INIT;
	cJSON *j = busjson_envelope(&env);
	cr_assert_eq(cJSON_GetArraySize(j), 1, "only kind");
	assert_str(j, "kind", "none");
	cJSON_Delete(j);
}

/* Bytes that are not UTF-8 (a path from a foreign locale) must not make the
 * whole document unreadable: they become U+FFFD, valid text is kept. */
Test(bus_json, invalid_utf8_is_replaced)
{
	Quobyte__Bus__Device d = QUOBYTE__BUS__DEVICE__INIT;
	d.root = "/mnt/K\xf6nig";		/* Latin-1 o-umlaut */
	d.model = "K\xc3\xb6nig \xe2\x82\xac";	/* valid UTF-8, kept */
	d.serial = "\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80x"; /* overlong, surrogate, > U+10FFFF */
	d.fs_label = "cut\xe2\x82";		/* truncated sequence at the end */
	cJSON *j = busjson_device(&d);
	assert_str(j, "root", "/mnt/K\xef\xbf\xbdnig");
	assert_str(j, "model", "K\xc3\xb6nig \xe2\x82\xac");
	const char *s = field(j, "serial")->valuestring;
	cr_assert_eq(s[strlen(s) - 1], 'x');
	cr_assert_null(strstr(s, "\xc0"), "%s", s);
	cr_assert_null(strstr(s, "\xed\xa0"), "%s", s);
	cr_assert_null(strstr(s, "\xf4\x90"), "%s", s);
	assert_str(j, "fs_label", "cut\xef\xbf\xbd\xef\xbf\xbd");

	/* and the printed document parses back */
	char *text = cJSON_PrintUnformatted(j);
	cJSON *back = cJSON_Parse(text);
	cr_assert_not_null(back);
	assert_str(back, "root", "/mnt/K\xef\xbf\xbdnig");
	cJSON_Delete(back);
	free(text);
	cJSON_Delete(j);
}

/* Control characters and quotes are escaped by the printer: one line. */
Test(bus_json, printed_on_one_line)
{
	Quobyte__Bus__Device d = QUOBYTE__BUS__DEVICE__INIT;
	d.error = "line 1\nline 2 \"quoted\"\t\x01";
	cJSON *j = busjson_device(&d);
	char *text = cJSON_PrintUnformatted(j);
	cr_assert_null(strchr(text, '\n'), "%s", text);
	cJSON *back = cJSON_Parse(text);
	assert_str(back, "error", "line 1\nline 2 \"quoted\"\t\x01");
	cJSON_Delete(back);
	free(text);
	cJSON_Delete(j);
}
