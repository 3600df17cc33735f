/* The operator CLI's human output: the coordinator's JSON answers as
 * aligned tables and short lines. Pure (cJSON in, text out to a FILE);
 * every string from the server goes through cli_escape(). Unknown or
 * missing fields print as "-", so a newer or older coordinator still gives
 * a readable view. */
#ifndef QM_CLI_RENDER_H
#define QM_CLI_RENDER_H

#include <cjson/cJSON.h>
#include <stdio.h>

/* GET /v1/state: problems first, then the coordinator and Mesos, the
 * versions, the rollout, and per node its state, services and devices. */
void cli_render_status(const cJSON *state, FILE *f);

/* GET /v1/reservations: one row each, releasable ones first. */
void cli_render_reservations(const cJSON *doc, FILE *f);

/* {"paused", "target_version", "previous_version"} of a rollout call or of
 * POST /v1/version, after `what` ("paused", "resumed", ...). */
void cli_render_rollout(const char *what, const cJSON *doc, FILE *f);

/* Any other answer: its top-level strings, numbers and booleans as
 * "key: value" lines (an empty object prints nothing). */
void cli_render_fields(const cJSON *doc, FILE *f);

/* "409 Conflict": the status and its reason phrase into out. */
const char *cli_status_text(long status, char *out, size_t cap);

#endif
