/* The benchmark's tombstone writer, so that each write is as tight as a real writer's.
 * Reads commands on stdin, one a line, and answers each with "t <CLOCK_MONOTONIC ns>", the time
 * just before the write that publishes (the harness's t0):
 *   born <path>     the Born tombstone, written in place (as Go kubexit writes it)
 *   inplace <path>  the Died tombstone, written in place: open with O_TRUNC, write, close (Go)
 *   rename <path>   the Died tombstone written to <dir>/.<name>.tmp, then renamed (TypeScript) */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char BORN[] = "Born: \"2020-04-28T10:41:46.9926314Z\"\n";
static const char DIED[] = "Born: \"2020-04-28T10:41:46.9926314Z\"\n"
                           "Died: \"2020-04-28T10:41:47.0496314Z\"\nExitCode: 0\n";

static long long now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int put(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  return close(fd) == 0 && n == (ssize_t)strlen(text) ? 0 : -1;
}

int main(void) {
  char line[4200], op[16], path[4096], tmp[4200];
  while (fgets(line, sizeof line, stdin)) {
    long long t0 = 0;
    int rc = -1;
    if (sscanf(line, "%15s %4095s", op, path) != 2) continue;
    if (strcmp(op, "born") == 0) t0 = now(), rc = put(path, BORN);
    if (strcmp(op, "inplace") == 0) t0 = now(), rc = put(path, DIED);
    if (strcmp(op, "rename") == 0) {
      char *slash = strrchr(path, '/');
      snprintf(tmp, sizeof tmp, "%.*s/.%s.tmp", (int)(slash - path), path, slash + 1);
      if (put(tmp, DIED) == 0) t0 = now(), rc = rename(tmp, path);
    }
    printf(rc == 0 ? "t %lld\n" : "error %lld\n", t0);
    fflush(stdout);
  }
  return 0;
}
