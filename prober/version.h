/* Version of the prober build, reported in --help and at start-up. */
#ifndef QM_PROBER_VERSION_H
#define QM_PROBER_VERSION_H

#ifndef QM_VERSION_STRING
#define QM_VERSION_STRING "0.1.0"
#endif

const char *prober_version(void);

#endif
