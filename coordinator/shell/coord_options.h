/* The coordinator's option table (flags, environment twins, defaults,
 * bounds, help, validators) and its defaults as a struct coord_config. */
#ifndef QM_COORD_OPTIONS_H
#define QM_COORD_OPTIONS_H

#include "config.h"
#include "shell/coord.h"

#include <stddef.h>

/* Every option of quobyte-coordinator, in --help order; the values land in
 * a struct coord_config. */
extern const struct config_opt coord_options[];
extern const size_t coord_noptions;

/* cfg zeroed, then every option's default from the table, as if the
 * coordinator had been started without flags or environment (so `master`
 * stays NULL: it has no default). 0, or QM_EINVAL with err (a broken
 * table). Free with coord_config_free() either way. Not thread-safe: the
 * validators share static buffers. */
int coord_config_defaults(struct coord_config *cfg, char *err, size_t errlen);
/* Free the strings of cfg (and set them NULL). */
void coord_config_free(struct coord_config *cfg);

#endif
