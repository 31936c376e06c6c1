/*
 * bunker-init: the first program of every task, exec'd by the cloned child
 * once the root, namespaces and cgroup are in place (ffi/spawn.c).
 *
 * It is a separate, static, single-threaded program so that the long-lived
 * process that reaps the task never shares memory with Bun. As PID 1 of the
 * task's PID namespace (or a child subreaper in host PID mode) it:
 *   1. forks the task's main process, which drops to the task's credentials
 *      (bounding set, groups, gid, uid, capability sets, ambient set,
 *      no_new_privs, rlimits, cwd), closes every fd but 0-2 and execs;
 *   2. drops its own capabilities to CAP_KILL;
 *   3. forwards the signals it receives to the main process and reaps every
 *      zombie, so a task can neither ignore a stop nor fill the table;
 *   4. when the main process ends, writes its wait status on fd 3 and exits,
 *      which in a PID namespace kills whatever the task left running.
 *
 * argv: bunker-init [-u UID] [-g GID] [-G G1,G2] [-c EFF:PRM:INH:BND:AMB (hex)]
 *                   [-n] [-d CWD] [-r RES:SOFT:HARD]... [-s] -- PATH ARGV0 ARGS...
 * fd 3: the status pipe (records defined in protocol.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol.h"

#define STATUS_FD 3
#define MAX_GROUPS 64
#define MAX_RLIMITS 16

struct creds {
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_GROUPS];
  int ngroups;
  uint64_t caps[5]; /* effective, permitted, inheritable, bounding, ambient */
  int no_new_privs;
  const char *cwd;
  int nlimits;
  struct {
    int resource;
    struct rlimit lim;
  } limits[MAX_RLIMITS];
  int signal_group; /* -s: forward signals to the task's process group */
};

static void record(int32_t kind, int32_t step, int32_t value) {
  int32_t rec[3] = {kind, step, value};
  ssize_t ignored = write(STATUS_FD, rec, sizeof rec);
  (void)ignored;
}

static _Noreturn void fail(int32_t step, int err) {
  record(BK_REC_SETUP_FAILED, step, err);
  _exit(BK_EXIT_SETUP);
}

static uint64_t parse_u64(const char *s, int base) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, base);
  if (errno || end == s) fail(BK_STEP_ARGS, EINVAL);
  return v;
}

static void parse_groups(struct creds *c, char *s) {
  for (char *tok = strtok(s, ","); tok && c->ngroups < MAX_GROUPS; tok = strtok(NULL, ","))
    c->groups[c->ngroups++] = (gid_t)parse_u64(tok, 10);
}

static void parse_caps(struct creds *c, char *s) {
  char *tok = strtok(s, ":");
  for (int i = 0; i < 5; i++, tok = strtok(NULL, ":")) {
    if (!tok) fail(BK_STEP_ARGS, EINVAL);
    c->caps[i] = parse_u64(tok, 16);
  }
}

static void parse_rlimit(struct creds *c, char *s) {
  if (c->nlimits >= MAX_RLIMITS) fail(BK_STEP_ARGS, E2BIG);
  char *res = strtok(s, ":"), *soft = strtok(NULL, ":"), *hard = strtok(NULL, ":");
  if (!res || !soft || !hard) fail(BK_STEP_ARGS, EINVAL);
  c->limits[c->nlimits].resource = (int)parse_u64(res, 10);
  c->limits[c->nlimits].lim.rlim_cur = parse_u64(soft, 10);
  c->limits[c->nlimits].lim.rlim_max = parse_u64(hard, 10);
  c->nlimits++;
}

static char **parse_args(int argc, char **argv, struct creds *c) {
  c->uid = 65534;
  c->gid = 65534;
  c->cwd = "/";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) return &argv[i + 1]; /* argv[argc] is NULL */
    if (i + 1 >= argc && strcmp(a, "-n") != 0 && strcmp(a, "-s") != 0) fail(BK_STEP_ARGS, EINVAL);
    if (strcmp(a, "-u") == 0) c->uid = (uid_t)parse_u64(argv[++i], 10);
    else if (strcmp(a, "-g") == 0) c->gid = (gid_t)parse_u64(argv[++i], 10);
    else if (strcmp(a, "-G") == 0) parse_groups(c, argv[++i]);
    else if (strcmp(a, "-c") == 0) parse_caps(c, argv[++i]);
    else if (strcmp(a, "-n") == 0) c->no_new_privs = 1;
    else if (strcmp(a, "-s") == 0) c->signal_group = 1;
    else if (strcmp(a, "-d") == 0) c->cwd = argv[++i];
    else if (strcmp(a, "-r") == 0) parse_rlimit(c, argv[++i]);
    else fail(BK_STEP_ARGS, EINVAL);
  }
  return NULL;
}

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

static int last_cap(void) {
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  char buf[16] = {0};
  if (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0) return atoi(buf);
  }
  return 40; /* CAP_CHECKPOINT_RESTORE: the last cap this code knows */
}

/* The bounding set can only shrink, and only while we hold CAP_SETPCAP, so it
 * goes first, before the uid change takes our capabilities away. */
static void drop_bounding(uint64_t keep, int last) {
  for (int cap = 0; cap <= last; cap++)
    if (!(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL)
      fail(BK_STEP_BOUNDING, errno);
}

static _Noreturn void become_task(const struct creds *c, char **cmd) {
  sigset_t none;
  sigemptyset(&none);
  /* Dispositions the server ignored (SIGPIPE) survive exec: reset them all. */
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (setsid() < 0) fail(BK_STEP_SETSID, errno);
  for (int i = 0; i < c->nlimits; i++)
    if (setrlimit(c->limits[i].resource, &c->limits[i].lim)) fail(BK_STEP_RLIMIT, errno);
  drop_bounding(c->caps[3], last_cap());
  if (setgroups((size_t)c->ngroups, c->groups)) fail(BK_STEP_SETGROUPS, errno);
  if (setresgid(c->gid, c->gid, c->gid)) fail(BK_STEP_SETGID, errno);
  /* Keep permitted caps across the uid change; capset then trims them. */
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)) fail(BK_STEP_SETUID, errno);
  if (setresuid(c->uid, c->uid, c->uid)) fail(BK_STEP_SETUID, errno);
  if (set_caps(c->caps[0], c->caps[1], c->caps[2])) fail(BK_STEP_CAPSET, errno);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL) fail(BK_STEP_AMBIENT, errno);
  for (int cap = 0; cap < 64; cap++)
    if ((c->caps[4] & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0))
      fail(BK_STEP_AMBIENT, errno);
  if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) fail(BK_STEP_NO_NEW_PRIVS, errno);
  if (chdir(c->cwd)) fail(BK_STEP_CHDIR, errno);
  /* fd 3 stays only to report a failed exec; exec closes it. */
  if (fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC) < 0 || syscall(SYS_close_range, 4U, ~0U, 0U))
    fail(BK_STEP_EXEC, errno);
  execve(cmd[0], &cmd[1], environ);
  fail(BK_STEP_EXEC, errno);
}

/* After the fork, init keeps only what it needs to forward signals. */
static void drop_own_caps(void) {
  uint64_t kill = 1ULL << CAP_KILL;
  drop_bounding(kill, last_cap());
  set_caps(kill, kill, 0);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static int forwardable(int sig) { return sig != SIGCHLD && sig != SIGKILL && sig != SIGSTOP; }

static void noop(int sig) { (void)sig; }

int main(int argc, char **argv) {
  struct creds c;
  memset(&c, 0, sizeof c);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  /* PID 1 drops signals it has no handler for; handlers make them arrive. */
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, noop);
  char **cmd = parse_args(argc, argv, &c);
  if (!cmd || !cmd[0] || !cmd[1]) fail(BK_STEP_ARGS, EINVAL);
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  pid_t main_pid = fork();
  if (main_pid < 0) fail(BK_STEP_FORK, errno);
  if (main_pid == 0) become_task(&c, cmd);
  drop_own_caps();

  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (forwardable(sig)) {
      kill(c.signal_group ? -main_pid : main_pid, sig);
      continue;
    }
    for (;;) {
      int status;
      pid_t p = waitpid(-1, &status, WNOHANG | __WALL);
      if (p <= 0) break;
      if (p == main_pid) {
        /* Our own high-water RSS dates from before exec, when this process
         * still shared the server's memory; report the task's instead. */
        struct rusage ru;
        if (getrusage(RUSAGE_CHILDREN, &ru) == 0) record(BK_REC_MAXRSS, 0, (int32_t)ru.ru_maxrss);
        record(BK_REC_EXITED, 0, status);
        return 0;
      }
    }
  }
}
