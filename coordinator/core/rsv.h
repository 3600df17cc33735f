/* Reservation labels: how a dynamic reservation says it belongs to this
 * framework and to one of its services.
 *
 * Every device-pinned service RESERVEs what its first launch takes, with
 * two labels on the reservation: the framework's name (stable across
 * failovers, unlike the FrameworkID) and the service. Later offers carry the
 * labels back, so a relaunch lands on its own reservation and a new leader,
 * even with lost state and a new FrameworkID, recognises what is ours.
 *
 * Wire form (include/mesos/v1/mesos.proto, 1.4.0 and 1.11.0):
 * ReservationInfo.labels is a Labels {repeated Label labels = 1} and a Label
 * is {required string key = 1; optional string value = 2}; JSON
 * {"labels":[{"key":"k","value":"v"}]}. The master does not validate
 * reservation labels (src/master/validation.cpp, operation::validate for
 * Reserve, 1.4.0 and 1.11.0: only the resources, the principal and the
 * roles are checked); labels are part of the reservation's identity, and
 * two Labels are equal regardless of order (operator== for Labels,
 * src/v1/mesos.cpp 1.4.0), so different labels never merge.
 *
 * Pure: no I/O, no globals; reentrant. Allocation failure aborts (qm_oom). */
#ifndef QM_RSV_H
#define QM_RSV_H

#include "core/service.h"

#include <cjson/cJSON.h>
#include <stddef.h>

#define RSV_LABEL_FRAMEWORK "quobyte-mesos.framework" /* value: --framework-name */
#define RSV_LABEL_SERVICE "quobyte-mesos.service"     /* value: service_name(s) */
#define RSV_VALUE_MAX 255 /* bytes of one of our label values */

/* The Labels object {"labels":[{"key":RSV_LABEL_FRAMEWORK,"value":framework},
 * {"key":RSV_LABEL_SERVICE,"value":service_name(s)}]} for a reservation of
 * ours; the caller owns it. NULL when framework is not 1..RSV_VALUE_MAX
 * bytes of text without control characters, or s is not a service. */
cJSON *rsv_labels(const char *framework, enum service s);

/* Read our two labels from a reservation's Labels object (NULL or JSON
 * null: none). On 0, *framework and *service are the labels' values,
 * borrowed from labels, or both NULL when the labels do not carry our keys. -1 with
 * why when the labels are malformed: not {"labels":[...]}, a label that is
 * not {"key":string[,"value":string]}, one of our keys twice, only one of
 * our two keys, one of ours without a value of 1..RSV_VALUE_MAX bytes of
 * text, or a service value that is no service_name(). Other labels are
 * left alone. */
int rsv_labels_parse(const cJSON *labels, const char **framework, const char **service,
		     char *why, size_t wlen);

#endif
