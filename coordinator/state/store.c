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

void store_settle(struct store *st)
{
	if (st && st->ops->settle)
		st->ops->settle(st->impl);
}

int store_load(struct store *st, struct store_state *out, uint64_t *version,
	       char *err, size_t errlen)
{
	store_settle(st);
	return st->ops->load(st->impl, out, version, err, errlen);
}

/* Learn the version, and refuse to overwrite a corrupt state, when the
 * backend does not know what is stored (a first save without a load, or
 * after a doubt). */
static int know(struct store *st, char *err, size_t errlen)
{
	if (st->ops->known(st->impl))
		return 0;
	struct store_state tmp;
	uint64_t v;
	int rv = st->ops->load(st->impl, &tmp, &v, err, errlen);
	store_state_fini(&tmp);
	return rv;
}

uint64_t store_last_sync_us(const struct store *st)
{
	return st->ops->last_sync_us ? st->ops->last_sync_us(st->impl) : 0;
}

bool store_saves_async(const struct store *st)
{
	return st->ops->saves_async && st->ops->saves_async(st->impl);
}

int store_save_start(struct store *st, const struct store_state *s,
		     uint64_t expected_version, store_done_fn done, void *arg, char *err,
		     size_t errlen)
{
	if (!st->ops->save_start)
		return qm_fail(err, errlen, QM_EINVAL, "the %s store saves synchronously only",
			    st->ops->name);
	store_settle(st);
	int rv = know(st, err, errlen);
	if (rv)
		return rv;
	return st->ops->save_start(st->impl, s, expected_version, done, arg, err, errlen);
}

int store_save(struct store *st, const struct store_state *s,
	       uint64_t expected_version, uint64_t *new_version, char *err,
	       size_t errlen)
{
	uint64_t nv = 0;
	store_settle(st);
	int rv = know(st, err, errlen);
	if (rv)
		return rv;
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
	store_settle(st);
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
