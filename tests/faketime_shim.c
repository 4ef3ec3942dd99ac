/* Loaded by tests/faketime_plugin.py under faketime: libfaketime 0.9.10 fakes CLOCK_MONOTONIC, and glibc then
   waits on an absolute deadline of the faked clock (90 days away), so every timed lock wait hangs.
   These wrappers rebase each absolute CLOCK_MONOTONIC deadline from the faked clock to the kernel's; with
   FAKETIME_DONT_FAKE_MONOTONIC=1 (nothing to rebase) clock_nanosleep still goes to the kernel, which
   libfaketime's own wrapper refuses with EINVAL. */
#define _GNU_SOURCE
#include <errno.h>
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void rebase(clockid_t clock, const struct timespec *in, struct timespec *out) {
    struct timespec faked, real;
    clock_gettime(clock, &faked);                 /* libfaketime's answer */
    syscall(SYS_clock_gettime, clock, &real);     /* the kernel's */
    long long ns = (long long)(in->tv_sec - faked.tv_sec) * 1000000000LL + (in->tv_nsec - faked.tv_nsec);
    if (ns < 0) ns = 0;
    long long sum = (long long)real.tv_nsec + ns % 1000000000LL;
    out->tv_sec = real.tv_sec + ns / 1000000000LL + sum / 1000000000LL;
    out->tv_nsec = sum % 1000000000LL;
}

int sem_clockwait(sem_t *sem, clockid_t clock, const struct timespec *abstime) {
    static int (*next)(sem_t *, clockid_t, const struct timespec *);
    if (!next) next = dlsym(RTLD_NEXT, "sem_clockwait");
    struct timespec t; rebase(clock, abstime, &t);
    return next(sem, clock, &t);
}

int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock, const struct timespec *abstime) {
    static int (*next)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *);
    if (!next) next = dlsym(RTLD_NEXT, "pthread_cond_clockwait");
    struct timespec t; rebase(clock, abstime, &t);
    return next(c, m, clock, &t);
}

int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clock, const struct timespec *abstime) {
    static int (*next)(pthread_mutex_t *, clockid_t, const struct timespec *);
    if (!next) next = dlsym(RTLD_NEXT, "pthread_mutex_clocklock");
    struct timespec t; rebase(clock, abstime, &t);
    return next(m, clock, &t);
}



/* time.sleep: an absolute deadline on CLOCK_MONOTONIC, passed straight to the kernel (libfaketime's own
   wrapper answers EINVAL when told not to fake the monotonic clock). */
int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request, struct timespec *remain) {
    struct timespec t = *request;
    if (flags & TIMER_ABSTIME) rebase(clock, request, &t);
    return syscall(SYS_clock_nanosleep, clock, flags, &t, remain) == 0 ? 0 : errno;
}
