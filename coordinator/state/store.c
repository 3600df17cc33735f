#include "state/store.h"

#include "qm_error.h"

#include <stdlib.h>

struct store {
	const struct store_ops *ops;
	void *impl;
	char *location;
};

struct store *store_new(const struct store_ops *ops, void *impl,
			const char *location)
{
	struct store *st = qm_calloc(1, sizeof *st);
	st->ops = ops;
	st->impl = impl;
	st->location = qm_strdup(location ? location : "");
	return st;
}

int store_load(struct store *st, struct store_state *out, uint64_t *version,
	       char *err, size_t errlen)
{
	return st->ops->load(st->impl, out, version, err, errlen);
}

int store_save(struct store *st, const struct store_state *s,
	       uint64_t expected_version, uint64_t *new_version, char *err,
	       size_t errlen)
{
	uint64_t nv = 0;
	int rv;
	if (!st->ops->known(st->impl)) {
		/* First save without a load (or after a doubt): learn the
		 * version, and refuse to overwrite a corrupt state. */
		struct store_state tmp;
		uint64_t v;
		rv = st->ops->load(st->impl, &tmp, &v, err, errlen);
		store_state_fini(&tmp);
		if (rv)
			return rv;
	}
	rv = st->ops->save(st->impl, s, expected_version, &nv, err, errlen);
	if (!rv && new_version)
		*new_version = nv;
	return rv;
}

void *store_impl(struct store *st, const struct store_ops *ops)
{
	return st && st->ops == ops ? st->impl : NULL;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	st->ops->close(st->impl);
	free(st->location);
	free(st);
}

const char *store_backend(const struct store *st)
{
	return st->ops->name;
}

bool store_save_follows_change(const struct store *st)
{
	return st->ops->save_follows_change;
}

const char *store_location(const struct store *st)
{
	return st->location;
}
