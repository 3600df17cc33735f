/* Clock readings in milliseconds, for timeouts, deadlines and latencies
 * (monotonic) and for stamps other machines read (real time). Thread-safe,
 * never block, never fail (clock_gettime on these clocks cannot). */
#ifndef QM_CLOCK_H
#define QM_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in ms: only differences mean anything. */
uint64_t clock_mono_ms(void);
/* CLOCK_MONOTONIC in microseconds, for latencies under a millisecond;
 * clock_mono_us() / 1000 is clock_mono_ms() at the same instant. */
uint64_t clock_mono_us(void);
/* The calling thread's CPU time in microseconds (CLOCK_THREAD_CPUTIME_ID:
 * a syscall, not the vDSO); 0 if it cannot be read. */
uint64_t clock_thread_cpu_us(void);
/* CLOCK_REALTIME in ms since the Unix epoch: may jump. */
uint64_t clock_real_ms(void);

#endif
