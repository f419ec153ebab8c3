/*
 * A slower disk for the bench cluster (BENCH_FSYNC_DELAY_US): preloaded into the PostgreSQL server, it waits that
 * many microseconds before each fsync and fdatasync, as a cloud volume or a disk without a write cache takes 0.5-5 ms
 * where this machine's takes 0.1 ms. Only the wait is added; the real call still runs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void wait_for_disk(void) {
  static long delay_us = -1;
  if (delay_us < 0) {
    const char *v = getenv("BENCH_FSYNC_DELAY_US");
    delay_us = v ? atol(v) : 0;
  }
  if (delay_us <= 0) return;
  struct timespec ts = { delay_us / 1000000, (delay_us % 1000000) * 1000 };
  while (nanosleep(&ts, &ts) != 0) {}
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  wait_for_disk();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  wait_for_disk();
  return real(fd);
}
