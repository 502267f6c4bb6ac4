/* The benchmark's child: prints CLOCK_MONOTONIC (ns) when it starts, and when it gets SIGTERM.
 * Usage: probe start        print the time and exit
 *        probe term         print "ready", wait for SIGTERM, print the time and exit 0 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_term(int sig) {
  char buf[64];
  int n = snprintf(buf, sizeof buf, "term %lld\n", now());
  (void)sig;
  write(1, buf, (size_t)n);
  _exit(0);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "term") == 0) {
    signal(SIGTERM, on_term);
    write(1, "ready\n", 6);
    for (;;) pause();
  }
  printf("start %lld\n", now());
  return 0;
}
