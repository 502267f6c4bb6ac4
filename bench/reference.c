/* The benchmark's C reference: kubexit's death contract at the physical limit.
 * KUBEXIT_GRAVEYARD and KUBEXIT_DEATH_DEPS (one name): fork/exec argv[1..]; when an inotify
 * event on the graveyard names the dependency and its tombstone then holds a Died key, SIGTERM
 * the child. TERM and INT are forwarded. Exits with the child's code (128+signal if killed). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static int died(const char *path) {
  char buf[512];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  return strncmp(buf, "Died:", 5) == 0 || strstr(buf, "\nDied:") != NULL;
}

int main(int argc, char **argv) {
  const char *dir = getenv("KUBEXIT_GRAVEYARD"), *dep = getenv("KUBEXIT_DEATH_DEPS");
  char path[4096], ev[4096] __attribute__((aligned(8)));
  struct pollfd fds[2] = {{.fd = -1, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
  sigset_t set, old;
  int status = 0;
  if (argc < 2) return fprintf(stderr, "usage: reference command [args...]\n"), 2;
  if (dir && dep && *dep) {
    snprintf(path, sizeof path, "%s/%s", dir, dep);
    fds[1].fd = inotify_init1(IN_CLOEXEC);
    inotify_add_watch(fds[1].fd, dir, IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO);
    if (died(path)) return 0; /* the dependency is already dead: never start */
  }
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD), sigaddset(&set, SIGTERM), sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, &old);
  fds[0].fd = signalfd(-1, &set, SFD_CLOEXEC);
  pid_t child = fork();
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    execvp(argv[1], argv + 1);
    _exit(127);
  }
  for (;;) {
    poll(fds, 2, -1);
    if (fds[0].revents) {
      struct signalfd_siginfo si;
      if (read(fds[0].fd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD)
        kill(child, (int)si.ssi_signo);
      if (waitpid(child, &status, WNOHANG) == child) break;
    }
    if (fds[1].revents) {
      ssize_t n = read(fds[1].fd, ev, sizeof ev);
      for (char *p = ev; n > 0 && p < ev + n;) {
        struct inotify_event *e = (struct inotify_event *)p;
        if (e->len && strcmp(e->name, dep) == 0 && died(path)) {
          kill(child, SIGTERM);
          fds[1].fd = -1; /* one TERM is enough */
          break;
        }
        p += sizeof *e + e->len;
      }
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
