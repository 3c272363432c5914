/* clock.h - the two clocks crmd reads: UTC microseconds for what is
 * recorded, a monotonic clock for what is measured; and the "now" a
 * question takes its default day from, which a test build may pin. */
#ifndef CRM_CLOCK_H
#define CRM_CLOCK_H

#include <stdint.h>

/* Wall-clock UTC in microseconds since the epoch. */
int64_t crm_now_us(void);

/* Monotonic nanoseconds, for durations and timeouts. */
int64_t crm_mono_ns(void);

/* The moment a question is asked at, for the ops that default to today
 * (tasks.today, and the `on` of kpi, segment, loyalty and customer ops):
 * crm_now_us(), unless crmd --pin-clock fixed it. What is recorded (the
 * writer's times, keys, logs) always reads crm_now_us(). */
int64_t crm_query_now_us(void);
/* Whether the query clock is pinned (always 0 in a build without
 * CRM_TEST_CLOCK). */
int crm_clock_pinned(void);

#ifdef CRM_TEST_CLOCK
/* Pins the query clock at us (UTC µs); 0 unpins it. Tests only: compiled
 * in by the CMake option CRM_TEST_CLOCK=ON, never in a release build.
 * Call before any thread reads it. */
void crm_clock_pin(int64_t us);
#endif

/* "YYYY-MM-DDTHH:MM:SSZ" (UTC) to µs since the epoch: 0, or -1 if it is
 * not one. */
int crm_clock_parse(const char *s, int64_t *us);

#endif
