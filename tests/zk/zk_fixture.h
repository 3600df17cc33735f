/* What every test against the real ZooKeeper server shares: where that
 * server is. tests/zk/run.sh starts it and sets QM_TEST_ZK. */
#ifndef QM_TEST_ZK_FIXTURE_H
#define QM_TEST_ZK_FIXTURE_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* "zk://127.0.0.1:<port>" from the runner; fails the test without it. */
__attribute__((unused)) static const char *zk_server(void)
{
	const char *e = getenv("QM_TEST_ZK");
	cr_assert(e && strncmp(e, "zk://", 5) == 0,
		  "QM_TEST_ZK is not set (or not zk://host:port): the ZooKeeper "
		  "tests need a real server - run tests/zk/run.sh, which starts "
		  "one and sets it");
	return e;
}

#endif
