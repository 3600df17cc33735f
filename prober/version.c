#include "version.h"

const char *prober_version(void)
{
	return QM_VERSION_STRING;
}
