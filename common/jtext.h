/* jtext: JSON text written straight into a growing buffer, for the few
 * outputs too big to build as a cJSON tree first: the state's encoding
 * (state/codec.c, a tree of a million values at 10,000 agents) and the
 * offer ids a DECLINE carries (shell/planning.c, up to DECLINE_IDS_MAX
 * per call). Strings are escaped exactly as cJSON prints them, so the text
 * is what cJSON_Print would have made. Allocation failure aborts (qm_oom).
 * Start from {0}; the caller frees buf. */
#ifndef QM_JTEXT_H
#define QM_JTEXT_H

#include <stddef.h>

struct jtext {
	char *buf;       /* NUL-terminated once anything was written */
	size_t len, cap;
};

/* Room for n more bytes (and the NUL). */
void jtext_need(struct jtext *t, size_t n);
void jtext_raw(struct jtext *t, const char *s, size_t n);
void jtext_ch(struct jtext *t, char c);
/* s as a JSON string: quoted, with quote, backslash and the control
 * characters escaped as cJSON escapes them; every other byte as it is. */
void jtext_str(struct jtext *t, const char *s);

#endif
