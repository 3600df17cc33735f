#include <stdio.h>
int main(void)
{
	fputs("quobyte-prober: under construction\n", stderr);
	return 2;
}
