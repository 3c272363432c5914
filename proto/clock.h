/* clock.h - the two clocks crmd reads: UTC microseconds for what is
 * recorded, a monotonic clock for what is measured. */
#ifndef CRM_CLOCK_H
#define CRM_CLOCK_H

#include <stdint.h>

/* Wall-clock UTC in microseconds since the epoch. */
int64_t crm_now_us(void);

/* Monotonic nanoseconds, for durations and timeouts. */
int64_t crm_mono_ns(void);

#endif
