/* Tests of core/validate.c and core/taskconf.c. */
#include "core/taskspec.h"
#include "qm_error.h"
#include "taskspec_check.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- validation ----------------------------------------------------- */

Test(taskspec, version_grammar)
{
	char longest[129], toolong[130];
	memset(longest, 'a', 128);
	longest[128] = '\0';
	memset(toolong, 'a', 129);
	toolong[129] = '\0';
	static const char *const good[] = {
		"3", "3.0", "2.24.1", "latest", "_x", "3.0-rc1", "A_b.C-d", "0",
	};
	static const char *const bad[] = {
		"", ".1", "-1", "3.0 ", "a b", "3.0;rm -rf /", "$(id)", "`id`",
		"v1/2", "3:0", "a\n", "\xc3\xbc", "3.0&&x", "a'b",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_assert(taskspec_version_valid(good[i]), "'%s' should pass", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert(!taskspec_version_valid(bad[i]), "'%s' should fail", bad[i]);
	cr_assert(taskspec_version_valid(longest));
	cr_assert(!taskspec_version_valid(toolong));
	cr_assert(!taskspec_version_valid(NULL));
}

Test(taskspec, hostname_rules)
{
	char label63[64], label64[65], total254[255];
	memset(label63, 'a', 63);
	label63[63] = '\0';
	memset(label64, 'a', 64);
	label64[64] = '\0';
	/* 127 "a." pairs = 254 bytes ending in '.', then cut to 253 + 1 */
	for (int i = 0; i < 254; i++)
		total254[i] = (i % 2) ? '.' : 'a';
	total254[253] = 'a';
	total254[254] = '\0';
	static const char *const good[] = {
		"node-3", "node-3.example.com", "10.0.0.13", "a", "N0DE", "1a",
	};
	static const char *const bad[] = {
		"", "-a", "a-", "a..b", "a_b", "a.", ".a", "a b", "a/b", "a;b",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_assert(taskspec_hostname_valid(good[i]), "'%s' should pass", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert(!taskspec_hostname_valid(bad[i]), "'%s' should fail", bad[i]);
	cr_assert(taskspec_hostname_valid(label63));
	cr_assert(!taskspec_hostname_valid(label64));
	cr_assert(!taskspec_hostname_valid(total254));
	total254[253] = '\0';
	total254[252] = 'a';
	cr_assert(taskspec_hostname_valid(total254));
}

Test(taskspec, mesos_id_rules)
{
	char max[256], over[257];
	memset(max, 'x', 255);
	max[255] = '\0';
	memset(over, 'x', 256);
	over[256] = '\0';
	cr_assert(taskspec_id_valid("quobyte-data.node-3.00000000000000ff"));
	cr_assert(taskspec_id_valid("a b"));  /* blanks are allowed by Mesos */
	cr_assert(taskspec_id_valid("..."));
	cr_assert(taskspec_id_valid(max));
	cr_assert(!taskspec_id_valid(over));
	cr_assert(!taskspec_id_valid(""));
	cr_assert(!taskspec_id_valid("."));
	cr_assert(!taskspec_id_valid(".."));
	cr_assert(!taskspec_id_valid("a/b"));
	cr_assert(!taskspec_id_valid("a\\b"));
	cr_assert(!taskspec_id_valid("a\nb"));
	cr_assert(!taskspec_id_valid("a\x7f"));
	cr_assert(!taskspec_id_valid(NULL));
}

Test(taskspec, image_names)
{
	static const char *const good[] = {
		"quobyte-server", "quay.io/quobyte/quobyte-server",
		"localhost/q", "localhost:5000/q/s", "registry.example.com:443/a_b/c__d",
		"a.b-c/x", "x--y", "library/alpine", "10.0.0.1:5000/img",
	};
	static const char *const bad[] = {
		"", "Quobyte", "quobyte-server:3.0", "a//b", "/a", "a/", "-a",
		"a-", "a..b", "a___b", "a b", "quay.io/Quobyte/x", "a@sha256:00",
		"host:99999/x", "a;b", "$(id)", "quay.io:/x",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_assert(taskspec_image_valid(good[i]), "'%s' should pass", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert(!taskspec_image_valid(bad[i]), "'%s' should fail", bad[i]);
}

Test(taskspec, paths_and_roles)
{
	cr_assert(taskspec_path_valid("/mnt/disk1"));
	cr_assert(taskspec_path_valid("/var/lib/quobyte/devices/data-0"));
	cr_assert(taskspec_path_valid("/"));
	cr_assert(!taskspec_path_valid("mnt/disk1"));
	cr_assert(!taskspec_path_valid("/mnt/../etc"));
	cr_assert(!taskspec_path_valid("/mnt/./x"));
	cr_assert(!taskspec_path_valid("/mnt//x"));
	cr_assert(!taskspec_path_valid("/mnt/x/"));
	cr_assert(!taskspec_path_valid("/mnt/a:b"));   /* docker -v separator */
	cr_assert(!taskspec_path_valid("/mnt/a,b"));   /* docker option separator */
	cr_assert(!taskspec_path_valid("/mnt/a\nb"));
	cr_assert(taskspec_role_valid("quobyte"));
	cr_assert(taskspec_role_valid("eng/backend"));
	cr_assert(!taskspec_role_valid("*"));
	cr_assert(!taskspec_role_valid(""));
	cr_assert(!taskspec_role_valid("-x"));
	cr_assert(!taskspec_role_valid("a/-x"));
	cr_assert(!taskspec_role_valid("a b"));
	cr_assert(!taskspec_role_valid("a\\b"));
	cr_assert(!taskspec_role_valid(".."));
}

/* ---- task IDs ------------------------------------------------------- */

Test(taskspec, task_id_shape_and_parse)
{
	char id[TASKSPEC_ID_MAX + 1];
	cr_assert_eq(taskspec_task_id("data", "node-3.example.com",
				      0x0123456789abcdefull, id, sizeof id), 0);
	cr_assert_str_eq(id, "quobyte-data.node-3.example.com.0123456789abcdef");
	cr_assert(taskspec_id_valid(id));
	char svc[32], host[256];
	cr_assert_eq(taskspec_task_id_parse(id, svc, sizeof svc, host, sizeof host), 0);
	cr_assert_str_eq(svc, "data");
	cr_assert_str_eq(host, "node-3.example.com");

	/* different randomness, different ID */
	char id2[TASKSPEC_ID_MAX + 1];
	cr_assert_eq(taskspec_task_id("data", "node-3.example.com", 1, id2, sizeof id2), 0);
	cr_assert_str_neq(id, id2);
	cr_assert_str_eq(id2, "quobyte-data.node-3.example.com.0000000000000001");
}

Test(taskspec, task_id_sanitises_hostname)
{
	char id[TASKSPEC_ID_MAX + 1];
	cr_assert_eq(taskspec_task_id("registry", "evil/../host\\x\n y", 7, id,
				      sizeof id), 0);
	cr_assert(taskspec_id_valid(id), "'%s' breaks the Mesos ID rules", id);
	cr_assert_str_eq(id, "quobyte-registry.evil_.._host_x__y.0000000000000007");
	cr_assert_eq(taskspec_task_id("api", "", 1, id, sizeof id), 0);
	cr_assert_str_eq(id, "quobyte-api.unknown.0000000000000001");
	cr_assert_eq(taskspec_task_id("api", NULL, 1, id, sizeof id), 0);
	cr_assert_str_eq(id, "quobyte-api.unknown.0000000000000001");

	char longhost[600];
	memset(longhost, 'h', sizeof longhost - 1);
	longhost[sizeof longhost - 1] = '\0';
	cr_assert_eq(taskspec_task_id("webconsole", longhost, 1, id, sizeof id), 0);
	cr_assert(strlen(id) <= TASKSPEC_ID_MAX);
	cr_assert(taskspec_id_valid(id));
	cr_assert_eq(taskspec_task_id_parse(id, NULL, 0, NULL, 0), 0);

	cr_assert_eq(taskspec_task_id("Data", "h", 1, id, sizeof id), QM_EINVAL);
	cr_assert_eq(taskspec_task_id("da ta", "h", 1, id, sizeof id), QM_EINVAL);
	cr_assert_eq(taskspec_task_id("data", "h", 1, id, 10), QM_ETOOBIG);
}

Test(taskspec, task_id_parse_rejects_foreign_ids)
{
	static const char *const foreign[] = {
		"probe.6c1e", "quobyte-data.node.123", "quobyte-.h.0123456789abcdef",
		"quobyte-data.0123456789abcdef", "quobyte-DATA.h.0123456789abcdef",
		"quobyte-data.h.0123456789ABCDEF", "other-data.h.0123456789abcdef",
	};
	for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
		cr_assert_eq(taskspec_task_id_parse(foreign[i], NULL, 0, NULL, 0),
			     QM_EINVAL, "'%s' should not parse", foreign[i]);
}

/* The values the builders and the configuration take (validate.h). */
Test(taskspec, task_values)
{
	cr_assert(taskspec_uri_valid("http://coord:8000/prober"));
	cr_assert(taskspec_uri_valid("https://x/y"));
	cr_assert_not(taskspec_uri_valid("ftp://x/y"));
	cr_assert_not(taskspec_uri_valid("http://x/a b"));
	cr_assert_not(taskspec_uri_valid(NULL));

	cr_assert(taskspec_image_ref_valid("quay.io/quobyte/prober:1.2"));
	cr_assert(taskspec_image_ref_valid("localhost:5000/p:3"));
	cr_assert_not(taskspec_image_ref_valid("quay.io/quobyte/prober"));
	cr_assert_not(taskspec_image_ref_valid("localhost:5000/p"));
	cr_assert_not(taskspec_image_ref_valid("Prober:1"));

	cr_assert(taskspec_registry_valid("node-1:7861,node-2:7861"));
	cr_assert(taskspec_registry_valid("registry.quobyte.local"));
	cr_assert(taskspec_registry_valid("[fd00::1]:7861"));
	cr_assert_not(taskspec_registry_valid("a;b"));
	cr_assert_not(taskspec_registry_valid("a b"));
	cr_assert_not(taskspec_registry_valid(""));

	cr_assert(taskspec_ip_valid("10.0.0.13"));
	cr_assert(taskspec_ip_valid("fd00::1"));
	cr_assert_not(taskspec_ip_valid("host"));
	cr_assert_not(taskspec_ip_valid(NULL));

	char hex[65];
	memset(hex, 'a', 64);
	hex[64] = '\0';
	cr_assert(taskspec_hex64_valid(hex));
	hex[10] = 'F';
	cr_assert(taskspec_hex64_valid(hex));
	hex[10] = 'g';
	cr_assert_not(taskspec_hex64_valid(hex));
	hex[10] = 'a';
	hex[63] = '\0';
	cr_assert_not(taskspec_hex64_valid(hex));
	cr_assert_not(taskspec_hex64_valid(NULL));

	cr_assert(taskspec_bus_url_valid("tcp://coord:7870"));
	cr_assert(taskspec_bus_url_valid("tls+tcp://10.0.0.1:7870"));
	cr_assert_not(taskspec_bus_url_valid("coord:7870"));
	cr_assert_not(taskspec_bus_url_valid("tcp://a b"));
}

/* ---- configuration -------------------------------------------------- */

Test(taskspec, config_defaults_validate)
{
	struct taskspec_config c;
	char err[256] = "";
	taskspec_config_defaults(&c);
	cr_assert_eq(taskspec_config_validate(&c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.svc[SERVICE_REGISTRY].port, 7861);
	cr_assert_eq(c.svc[SERVICE_DATA].http_port, 7873);
	cr_assert_eq(c.svc[SERVICE_API].port, 7860);
	cr_assert_eq(c.svc[SERVICE_WEBCONSOLE].port, 8080);
	cr_assert_eq(c.svc[SERVICE_CLIENT].http_port, 55000);
	c.image = "Quobyte:3";
	cr_assert_eq(taskspec_config_validate(&c, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "Quobyte:3"), "%s", err);
	taskspec_config_defaults(&c);
	c.svc[SERVICE_DATA].http_port = 7863;
	cr_assert_eq(taskspec_config_validate(&c, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "data"), "%s", err);
	taskspec_config_defaults(&c);
	c.prober_mode = TASKSPEC_PROBER_FETCH;
	c.prober_uri = "ftp://x/y";
	cr_assert_eq(taskspec_config_validate(&c, err, sizeof err), QM_EINVAL);
	c.prober_uri = "http://coord:8000/prober";
	cr_assert_eq(taskspec_config_validate(&c, err, sizeof err), 0, "%s", err);

	/* the prober part on its own: what the prober builder checks */
	cr_assert_eq(taskspec_prober_conf_validate(&c, err, sizeof err), 0, "%s", err);
	c.prober_mode = TASKSPEC_PROBER_DOCKER;
	c.prober_image = "quay.io/quobyte/prober";
	cr_assert_eq(taskspec_prober_conf_validate(&c, err, sizeof err), QM_EINVAL);
	cr_assert(strstr(err, "prober image"), "%s", err);
	c.prober_image = "quay.io/quobyte/prober:2";
	cr_assert_eq(taskspec_prober_conf_validate(&c, err, sizeof err), 0, "%s", err);
	c.prober_user = "a\nb";
	cr_assert_eq(taskspec_prober_conf_validate(&c, err, sizeof err), QM_EINVAL);
}

Test(resources, operator_list_applies_and_rejects_with_the_item_named)
{
	struct taskspec_config c;
	char err[160] = "";
	taskspec_config_defaults(&c);
	cr_assert_eq(taskspec_parse_resources("data:2:8192,metadata:0.5:1024", &c, err,
					      sizeof err), 0, "%s", err);
	cr_assert_eq(c.svc[SERVICE_DATA].cpus_milli, 2000);
	cr_assert_eq(c.svc[SERVICE_DATA].mem_mb, 8192);
	cr_assert_eq(c.svc[SERVICE_METADATA].cpus_milli, 500);
	cr_assert_eq(c.svc[SERVICE_METADATA].mem_mb, 1024);

	struct taskspec_config before = c;
	const char *bad[] = { "data", "data:1", "disk:1:100", "data:0:100", "data:1:10",
			      "data:1:1.5", "data:x:100", "data:1.2345:100", "data:1:100,api" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		cr_assert_eq(taskspec_parse_resources(bad[i], &c, err, sizeof err), QM_EINVAL,
			     "%s accepted", bad[i]);
		cr_assert(err[0], "no message for %s", bad[i]);
		cr_assert(memcmp(&before.svc, &c.svc, sizeof c.svc) == 0, "%s changed c", bad[i]);
	}
	cr_assert_eq(taskspec_parse_resources(NULL, &c, err, sizeof err), 0);
}

