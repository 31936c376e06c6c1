/*
 * bunker-init: the first program of every task, exec'd by the cloned child
 * once the root, namespaces and cgroup are in place (ffi/spawn.c).
 *
 * It is a separate, static, single-threaded program so that the long-lived
 * process that reaps the task never shares memory with Bun. As PID 1 of the
 * task's PID namespace (or a child subreaper in host PID mode) it:
 *   1. waits on its control socket (fd 3) for the task request: credentials,
 *      cwd, path, argv, envp, and the task's stdio as SCM_RIGHTS. A pool
 *      keeps such "zygotes" ready, so an invocation costs one message, a
 *      fork of this small process and the task's own execve;
 *   2. forks the task's main process, which drops to the task's credentials
 *      (bounding set, groups, gid, uid, capability sets, ambient set,
 *      no_new_privs, rlimits, cwd), keeps only fds 0-2 and execs;
 *   3. drops its own capabilities to CAP_KILL and becomes non-dumpable, so
 *      the task can neither ptrace it nor read its memory;
 *   4. forwards the signals it receives to the main process and reaps every
 *      zombie, so a task can neither ignore a stop nor fill the process table;
 *   5. when the main process ends, reports its usage and wait status and
 *      exits, which in a PID namespace kills whatever the task left running.
 * Records and the request format are in protocol.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol.h"

#define CONTROL_FD 3
#define MAX_GROUPS 256
#define MAX_RLIMITS 16
#define MAX_ARGS 65536

struct request {
  uint32_t uid, gid, ngroups, flags, nlimits;
  gid_t groups[MAX_GROUPS];
  uint64_t caps[5]; /* effective, permitted, inheritable, bounding, ambient */
  struct {
    int resource;
    struct rlimit lim;
  } limits[MAX_RLIMITS];
  const char *cwd, *path;
  char **argv, **envp;
  int stdio[3];
};

static void record(int32_t kind, int32_t step, int64_t value) {
  struct {
    int32_t kind, step;
    int64_t value;
  } rec = {kind, step, value};
  ssize_t ignored = write(CONTROL_FD, &rec, sizeof rec);
  (void)ignored;
}

static _Noreturn void fail(int32_t step, int err) {
  record(BK_REC_SETUP_FAILED, step, err);
  _exit(BK_EXIT_SETUP);
}

/* ---------- request decoding ---------- */

struct reader {
  const uint8_t *p, *end;
};

static uint32_t u32(struct reader *r) {
  uint32_t v;
  if (r->end - r->p < 4) fail(BK_STEP_REQUEST, EPROTO);
  memcpy(&v, r->p, 4);
  r->p += 4;
  return v;
}

static uint64_t u64(struct reader *r) {
  uint64_t v;
  if (r->end - r->p < 8) fail(BK_STEP_REQUEST, EPROTO);
  memcpy(&v, r->p, 8);
  r->p += 8;
  return v;
}

static const char *str(struct reader *r) {
  uint32_t len = u32(r);
  if ((uint64_t)(r->end - r->p) < (uint64_t)len + 1 || r->p[len] != '\0') fail(BK_STEP_REQUEST, EPROTO);
  const char *s = (const char *)r->p;
  r->p += len + 1;
  return s;
}

static char **strv(struct reader *r) {
  uint32_t n = u32(r);
  if (n > MAX_ARGS) fail(BK_STEP_REQUEST, E2BIG);
  char **v = calloc(n + 1, sizeof *v);
  if (!v) fail(BK_STEP_REQUEST, ENOMEM);
  for (uint32_t i = 0; i < n; i++) v[i] = (char *)str(r);
  return v;
}

static void decode(struct request *q, const uint8_t *buf, size_t len) {
  struct reader r = {buf, buf + len};
  if (u32(&r) != BK_REQ_MAGIC) fail(BK_STEP_REQUEST, EPROTO);
  q->uid = u32(&r);
  q->gid = u32(&r);
  q->ngroups = u32(&r);
  if (q->ngroups > MAX_GROUPS) fail(BK_STEP_REQUEST, E2BIG);
  for (uint32_t i = 0; i < q->ngroups; i++) q->groups[i] = u32(&r);
  for (int i = 0; i < 5; i++) q->caps[i] = u64(&r);
  q->flags = u32(&r);
  q->nlimits = u32(&r);
  if (q->nlimits > MAX_RLIMITS) fail(BK_STEP_REQUEST, E2BIG);
  for (uint32_t i = 0; i < q->nlimits; i++) {
    q->limits[i].resource = (int)u32(&r);
    q->limits[i].lim.rlim_cur = u64(&r);
    q->limits[i].lim.rlim_max = u64(&r);
  }
  q->cwd = str(&r);
  q->path = str(&r);
  q->argv = strv(&r);
  q->envp = strv(&r);
  if (r.p != r.end || !q->argv[0]) fail(BK_STEP_REQUEST, EPROTO);
}

/* Blocks until the request arrives. EOF means the server discarded this
 * zygote: exit quietly. */
static void receive(struct request *q) {
  static uint8_t buf[BK_REQ_MAX];
  union {
    char buf[CMSG_SPACE(3 * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = {buf, sizeof buf};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = sizeof ctl.buf;
  ssize_t n;
  do n = recvmsg(CONTROL_FD, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n == 0) _exit(0);
  if (n < 0) fail(BK_STEP_REQUEST, errno);
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) fail(BK_STEP_REQUEST, EMSGSIZE);
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(3 * sizeof(int))) fail(BK_STEP_REQUEST, EPROTO);
  memcpy(q->stdio, CMSG_DATA(c), sizeof q->stdio);
  decode(q, buf, (size_t)n);
}

/* ---------- becoming the task ---------- */

static int set_caps(uint64_t eff, uint64_t prm, uint64_t inh) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  data[0].effective = (uint32_t)eff;
  data[1].effective = (uint32_t)(eff >> 32);
  data[0].permitted = (uint32_t)prm;
  data[1].permitted = (uint32_t)(prm >> 32);
  data[0].inheritable = (uint32_t)inh;
  data[1].inheritable = (uint32_t)(inh >> 32);
  return (int)syscall(SYS_capset, &hdr, data);
}

/* The bounding set can only shrink, and only while we hold CAP_SETPCAP, so it
 * goes first, before the uid change takes our capabilities away. Caps this
 * kernel does not know answer EINVAL, which ends the loop. */
static void drop_bounding(uint64_t keep) {
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
    if (errno == EINVAL) break;
    fail(BK_STEP_BOUNDING, errno);
  }
}

static int move_stdio(const struct request *q) {
  int tmp[3];
  /* Lift the received fds above 2 first: one of them may already be 0..2. */
  for (int i = 0; i < 3; i++)
    if ((tmp[i] = fcntl(q->stdio[i], F_DUPFD_CLOEXEC, 10)) < 0) return -1;
  for (int i = 0; i < 3; i++)
    if (dup2(tmp[i], i) < 0) return -1;
  return 0;
}

static _Noreturn void become_task(const struct request *q) {
  sigset_t none;
  sigemptyset(&none);
  /* Dispositions the server ignored (SIGPIPE) survive exec: reset them all. */
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (move_stdio(q)) fail(BK_STEP_FDS, errno);
  if (setsid() < 0) fail(BK_STEP_SETSID, errno);
  /* alloc exec with a TTY: the terminal becomes this session's. */
  if ((q->flags & BK_REQ_TTY) && ioctl(0, TIOCSCTTY, 0)) fail(BK_STEP_SETSID, errno);
  for (uint32_t i = 0; i < q->nlimits; i++)
    if (setrlimit(q->limits[i].resource, &q->limits[i].lim)) fail(BK_STEP_RLIMIT, errno);
  drop_bounding(q->caps[3]);
  if (setgroups(q->ngroups, q->groups)) fail(BK_STEP_SETGROUPS, errno);
  if (setresgid(q->gid, q->gid, q->gid)) fail(BK_STEP_SETGID, errno);
  /* Keep permitted caps across the uid change; capset then trims them. */
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)) fail(BK_STEP_SETUID, errno);
  if (setresuid(q->uid, q->uid, q->uid)) fail(BK_STEP_SETUID, errno);
  if (set_caps(q->caps[0], q->caps[1], q->caps[2])) fail(BK_STEP_CAPSET, errno);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL) fail(BK_STEP_AMBIENT, errno);
  for (int cap = 0; cap < 64; cap++)
    if ((q->caps[4] & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0))
      fail(BK_STEP_AMBIENT, errno);
  if ((q->flags & BK_REQ_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) fail(BK_STEP_NO_NEW_PRIVS, errno);
  if (chdir(q->cwd)) fail(BK_STEP_CHDIR, errno);
  /* The control socket stays only to report a failed exec; exec closes it.
   * Everything else but 0-2 goes now. */
  if (fcntl(CONTROL_FD, F_SETFD, FD_CLOEXEC) < 0 || syscall(SYS_close_range, 4U, ~0U, 0U))
    fail(BK_STEP_EXEC, errno);
  execve(q->path, q->argv, q->envp);
  fail(BK_STEP_EXEC, errno);
}

/* ---------- init ---------- */

/* After the fork, init keeps only what it needs to forward signals, and
 * cannot be ptraced or read through /proc by the task. */
static void harden_self(void) {
  uint64_t kill = 1ULL << CAP_KILL;
  drop_bounding(kill);
  set_caps(kill, kill, 0);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static int64_t usec(struct timeval tv) { return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec; }

static void report_exit(int status) {
  struct rusage ru;
  /* Our own rusage dates from before exec, when this process still shared
   * the server's memory; the task's is RUSAGE_CHILDREN. */
  if (getrusage(RUSAGE_CHILDREN, &ru) == 0) {
    record(BK_REC_MAXRSS, 0, ru.ru_maxrss);
    record(BK_REC_UTIME, 0, usec(ru.ru_utime));
    record(BK_REC_STIME, 0, usec(ru.ru_stime));
  }
  record(BK_REC_EXITED, 0, status);
}

static void noop(int sig) { (void)sig; }

int main(void) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  /* PID 1 drops signals it has no handler for; handlers make them arrive. */
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, noop);
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  struct request q;
  memset(&q, 0, sizeof q);
  receive(&q);

  pid_t main_pid = fork();
  if (main_pid < 0) fail(BK_STEP_FORK, errno);
  if (main_pid == 0) become_task(&q);
  for (int i = 0; i < 3; i++) close(q.stdio[i]);
  record(BK_REC_STARTED, 0, main_pid);
  harden_self();

  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(main_pid, sig);
      continue;
    }
    for (;;) {
      int status;
      pid_t p = waitpid(-1, &status, WNOHANG | __WALL);
      if (p <= 0) break;
      if (p == main_pid) {
        report_exit(status);
        return 0;
      }
    }
  }
}
