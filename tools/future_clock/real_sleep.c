/* Sleeps on the kernel's clocks, bypassing libfaketime's clock_nanosleep.
 *
 * With FAKETIME_DONT_FAKE_MONOTONIC=1 (needed: Python waits on locks and events with sem_clockwait on
 * CLOCK_MONOTONIC, which libfaketime does not intercept, so a faked monotonic clock makes every timed
 * wait hang), libfaketime 0.9.10 still shifts absolute CLOCK_MONOTONIC deadlines by the fake offset
 * and clock_nanosleep fails with EINVAL: Python's time.sleep raises "Invalid argument". Preloaded before
 * libfaketime, this makes only the calendar move; every sleep and timeout keeps its real length.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *req, struct timespec *rem)
{
    /* clock_nanosleep returns the error number instead of setting errno. */
    long result = syscall(SYS_clock_nanosleep, clock_id, flags, req, rem);
    return result == 0 ? 0 : errno;
}
