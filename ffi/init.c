/*
 * bunker-init: the first program of every task, exec'd by the cloned child
 * once the root, namespaces and cgroup are in place (ffi/spawn.c).
 *
 * As PID 1 of the task's PID namespace (or a child subreaper in host PID
 * mode) it:
 *   1. reads the task's identity from its control socket (fd 3): uid, gid,
 *      groups, the five capability sets, no_new_privs, rlimits;
 *   2. forks the task's main process at once, which takes that identity
 *      (default signal dispositions, setsid, rlimits, bounding set, groups,
 *      gid, uid, capabilities, ambient set, no_new_privs) and then waits,
 *      all signals blocked, for the exec request: cwd, path, argv, envp and
 *      the task's stdio as SCM_RIGHTS. A pool keeps slots in this state, so
 *      an invocation costs one message and the task's own execve;
 *   3. drops its own capabilities to CAP_KILL and becomes non-dumpable, so
 *      the task can neither ptrace it nor read its memory;
 *   4. forwards the signals it receives to the main process and reaps every
 *      zombie, so a task can neither ignore a stop nor fill the process table;
 *   5. when the main process ends, reports its usage and wait status in one
 *      message and exits, which in a PID namespace kills whatever the task
 *      left running.
 *
 * It is freestanding: no libc, raw system calls only, its own _start. A
 * static glibc spends most of a short task's start-up probing the CPU
 * (cpuid, a trap to the hypervisor on a VM: ~0.3 ms per task measured with
 * perf on the development VM) and faulting in its own pages; this program
 * needs none of that. x86_64 only, like spawn.c's clone trampoline.
 * Records and the message formats are in protocol.h.
 */
#include <asm/unistd.h>
#include <linux/capability.h>
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <linux/prctl.h>
#include <linux/wait.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

#if !defined(__x86_64__)
#error "bunker-init's raw system calls are written for x86_64 only"
#endif

#define CONTROL_FD 3
#define MAX_GROUPS 256
#define MAX_RLIMITS 16
#define MAX_ARGS 65536

#define SIGKILL 9
#define SIGSTOP 19
#define SIGCHLD 17
#define NSIG 64
#define SIGSET_BYTES 8 /* the kernel's sigset_t, not glibc's */
#define RUSAGE_CHILDREN (-1)
#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define MSG_CTRUNC 0x8
#define MSG_TRUNC 0x20
#define MSG_CMSG_CLOEXEC 0x40000000
#define TIOCSCTTY 0x540E

/* ---------- the system calls, and what libc would otherwise provide ---------- */

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#define SYS(n, a, b, c, d, e) sys6(__NR_##n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* The compiler may emit calls to these for struct copies and zeroing. */
void *memset(void *dst, int c, size_t n) {
  volatile unsigned char *p = dst;
  while (n--) *p++ = (unsigned char)c;
  return dst;
}

void *memcpy(void *dst, const void *src, size_t n) {
  volatile unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

static _Noreturn void exit_now(int code) {
  for (;;) SYS(exit_group, code, 0, 0, 0, 0);
}

struct iovec_k {
  void *base;
  size_t len;
};

struct msghdr_k {
  void *name;
  int namelen;
  struct iovec_k *iov;
  size_t iovlen;
  void *control;
  size_t controllen;
  int flags;
};

struct cmsghdr_k {
  size_t len;
  int level;
  int type;
  int fds[3]; /* SCM_RIGHTS payload: exactly the task's stdin, stdout, stderr */
};
#define CMSG_LEN_3FDS (offsetof(struct cmsghdr_k, fds) + 3 * sizeof(int))

struct sigaction_k {
  unsigned long handler, flags, restorer, mask;
};

struct rusage_k {
  long utime_sec, utime_usec, stime_sec, stime_usec;
  long maxrss;
  long rest[13];
};

struct rlimit_k {
  uint64_t cur, max;
};

/* ---------- records to the server ---------- */

struct rec {
  int32_t kind, step;
  int64_t value;
};

static void send_records(const struct rec *recs, size_t n) {
  long r;
  do r = SYS(write, CONTROL_FD, recs, n * sizeof *recs, 0, 0);
  while (r == -EINTR);
}

static _Noreturn void fail(int32_t step, long err) {
  struct rec r = {BK_REC_SETUP_FAILED, step, -err};
  send_records(&r, 1);
  exit_now(BK_EXIT_SETUP);
}

/* A raw call's -errno, as a failure of `step`. */
static void must(long ret, int32_t step) {
  if (ret < 0) fail(step, ret);
}

/* ---------- messages from the server ---------- */

static uint8_t message[BK_REQ_MAX];

struct reader {
  const uint8_t *p, *end;
};

static uint32_t u32(struct reader *r) {
  uint32_t v;
  if (r->end - r->p < 4) fail(BK_STEP_REQUEST, -EPROTO);
  memcpy(&v, r->p, 4);
  r->p += 4;
  return v;
}

static uint64_t u64(struct reader *r) {
  uint64_t v;
  if (r->end - r->p < 8) fail(BK_STEP_REQUEST, -EPROTO);
  memcpy(&v, r->p, 8);
  r->p += 8;
  return v;
}

static char *str(struct reader *r) {
  uint32_t len = u32(r);
  if ((uint64_t)(r->end - r->p) < (uint64_t)len + 1 || r->p[len] != '\0') fail(BK_STEP_REQUEST, -EPROTO);
  char *s = (char *)r->p;
  r->p += len + 1;
  return s;
}

static void strv(struct reader *r, char **v) {
  uint32_t n = u32(r);
  if (n > MAX_ARGS) fail(BK_STEP_REQUEST, -E2BIG);
  for (uint32_t i = 0; i < n; i++) v[i] = str(r);
  v[n] = NULL;
}

/* Blocks until one message arrives; `fds` (or NULL) takes its three fds. EOF
 * means the server discarded this slot: exit quietly. */
static size_t receive(int fds[3]) {
  struct iovec_k iov = {message, sizeof message};
  struct cmsghdr_k ctl;
  struct msghdr_k msg = {0};
  msg.iov = &iov;
  msg.iovlen = 1;
  msg.control = &ctl;
  msg.controllen = sizeof ctl;
  long n;
  do n = SYS(recvmsg, CONTROL_FD, &msg, MSG_CMSG_CLOEXEC, 0, 0);
  while (n == -EINTR);
  if (n == 0) exit_now(0);
  must(n, BK_STEP_REQUEST);
  if (msg.flags & (MSG_TRUNC | MSG_CTRUNC)) fail(BK_STEP_REQUEST, -EMSGSIZE);
  int has_fds = msg.controllen >= CMSG_LEN_3FDS && ctl.level == SOL_SOCKET && ctl.type == SCM_RIGHTS &&
                ctl.len == CMSG_LEN_3FDS;
  if ((fds != NULL) != has_fds) fail(BK_STEP_REQUEST, -EPROTO);
  if (fds) memcpy(fds, ctl.fds, sizeof ctl.fds);
  return (size_t)n;
}

struct identity {
  uint32_t uid, gid, ngroups, flags, nlimits;
  uint32_t groups[MAX_GROUPS];
  uint64_t caps[5]; /* effective, permitted, inheritable, bounding, ambient */
  struct {
    uint32_t resource;
    struct rlimit_k lim;
  } limits[MAX_RLIMITS];
};

static void decode_identity(struct identity *id, size_t len) {
  struct reader r = {message, message + len};
  if (u32(&r) != BK_ID_MAGIC) fail(BK_STEP_REQUEST, -EPROTO);
  id->uid = u32(&r);
  id->gid = u32(&r);
  id->ngroups = u32(&r);
  if (id->ngroups > MAX_GROUPS) fail(BK_STEP_REQUEST, -E2BIG);
  for (uint32_t i = 0; i < id->ngroups; i++) id->groups[i] = u32(&r);
  for (int i = 0; i < 5; i++) id->caps[i] = u64(&r);
  id->flags = u32(&r);
  id->nlimits = u32(&r);
  if (id->nlimits > MAX_RLIMITS) fail(BK_STEP_REQUEST, -E2BIG);
  for (uint32_t i = 0; i < id->nlimits; i++) {
    id->limits[i].resource = u32(&r);
    id->limits[i].lim.cur = u64(&r);
    id->limits[i].lim.max = u64(&r);
  }
  if (r.p != r.end) fail(BK_STEP_REQUEST, -EPROTO);
}

struct exec_request {
  uint32_t flags;
  const char *cwd, *path;
  int stdio[3];
};

static char *argv_buf[MAX_ARGS + 1];
static char *envp_buf[MAX_ARGS + 1];

static void decode_exec(struct exec_request *q, size_t len) {
  struct reader r = {message, message + len};
  if (u32(&r) != BK_REQ_MAGIC) fail(BK_STEP_REQUEST, -EPROTO);
  q->flags = u32(&r);
  q->cwd = str(&r);
  q->path = str(&r);
  strv(&r, argv_buf);
  strv(&r, envp_buf);
  if (r.p != r.end || !argv_buf[0]) fail(BK_STEP_REQUEST, -EPROTO);
}

/* ---------- becoming the task ---------- */

static long set_caps(uint64_t eff, uint64_t prm, uint64_t inh) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  data[0].effective = (uint32_t)eff;
  data[1].effective = (uint32_t)(eff >> 32);
  data[0].permitted = (uint32_t)prm;
  data[1].permitted = (uint32_t)(prm >> 32);
  data[0].inheritable = (uint32_t)inh;
  data[1].inheritable = (uint32_t)(inh >> 32);
  return SYS(capset, &hdr, data, 0, 0, 0);
}

/* The bounding set can only shrink, and only while we hold CAP_SETPCAP, so it
 * goes first, before the uid change takes our capabilities away. Caps this
 * kernel does not know answer EINVAL, which ends the loop. */
static void drop_bounding(uint64_t keep) {
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    long r = SYS(prctl, PR_CAPBSET_DROP, cap, 0, 0, 0);
    if (r == -EINVAL) break;
    must(r, BK_STEP_BOUNDING);
  }
}

/* Everything the identity decides, done before the invocation arrives. Signals
 * stay blocked throughout: one sent to the task before its exec stays pending
 * and, with the default disposition set here, acts once the mask is lifted. */
static void take_identity(const struct identity *id, long init_pid) {
  /* Dispositions the server ignored (SIGPIPE) would survive exec. */
  struct sigaction_k dfl = {0, 0, 0, 0};
  for (int s = 1; s <= NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) SYS(rt_sigaction, s, &dfl, NULL, SIGSET_BYTES, 0);
  must(SYS(setsid, 0, 0, 0, 0, 0), BK_STEP_SETSID);
  for (uint32_t i = 0; i < id->nlimits; i++)
    must(SYS(prlimit64, 0, id->limits[i].resource, &id->limits[i].lim, NULL, 0), BK_STEP_RLIMIT);
  drop_bounding(id->caps[3]);
  must(SYS(setgroups, id->ngroups, id->groups, 0, 0, 0), BK_STEP_SETGROUPS);
  must(SYS(setresgid, id->gid, id->gid, id->gid, 0, 0), BK_STEP_SETGID);
  /* Keep permitted caps across the uid change; capset then trims them. */
  must(SYS(prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0), BK_STEP_SETUID);
  must(SYS(setresuid, id->uid, id->uid, id->uid, 0, 0), BK_STEP_SETUID);
  must(set_caps(id->caps[0], id->caps[1], id->caps[2]), BK_STEP_CAPSET);
  long r = SYS(prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (r < 0 && r != -EINVAL) fail(BK_STEP_AMBIENT, r);
  for (int cap = 0; cap < 64; cap++)
    if (id->caps[4] & (1ULL << cap)) must(SYS(prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), BK_STEP_AMBIENT);
  if (id->flags & BK_REQ_NO_NEW_PRIVS) must(SYS(prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), BK_STEP_NO_NEW_PRIVS);
  /* A credential change clears the parent-death signal, so it is set after.
   * In host PID mode nothing else would end a waiting slot whose init died.
   * If init died before this, we were re-parented: go. (getppid is 0 when
   * init is outside our PID namespace, as for alloc exec; then the task's
   * own PID 1 dying ends us.) */
  must(SYS(prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), BK_STEP_PDEATHSIG);
  long parent = SYS(getppid, 0, 0, 0, 0, 0);
  if (parent != init_pid && parent != 0) exit_now(0);
}

static void move_stdio(const int stdio[3]) {
  int tmp[3];
  /* Lift the received fds above 2 first: one of them may already be 0..2. */
  for (int i = 0; i < 3; i++) {
    long fd = SYS(fcntl, stdio[i], F_DUPFD_CLOEXEC, 10, 0, 0);
    must(fd, BK_STEP_FDS);
    tmp[i] = (int)fd;
  }
  for (int i = 0; i < 3; i++) must(SYS(dup2, tmp[i], i, 0, 0, 0), BK_STEP_FDS);
}

static _Noreturn void run_task(void) {
  struct exec_request q;
  decode_exec(&q, receive(q.stdio));
  move_stdio(q.stdio);
  /* alloc exec with a TTY: the terminal becomes this session's. */
  if (q.flags & BK_REQ_TTY) must(SYS(ioctl, 0, TIOCSCTTY, 0, 0, 0), BK_STEP_SETSID);
  must(SYS(chdir, q.cwd, 0, 0, 0, 0), BK_STEP_CHDIR);
  /* The control socket stays only to report a failed exec; exec closes it.
   * Everything else but 0-2 goes now. */
  must(SYS(fcntl, CONTROL_FD, F_SETFD, FD_CLOEXEC, 0, 0), BK_STEP_EXEC);
  must(SYS(close_range, 4U, ~0U, 0U, 0, 0), BK_STEP_EXEC);
  uint64_t none = 0;
  must(SYS(rt_sigprocmask, 2 /* SIG_SETMASK */, &none, NULL, SIGSET_BYTES, 0), BK_STEP_EXEC);
  fail(BK_STEP_EXEC, SYS(execve, q.path, argv_buf, envp_buf, 0, 0));
}

/* ---------- init ---------- */

/* After the fork, init keeps only what it needs to forward signals, and
 * cannot be ptraced or read through /proc by the task. */
static void harden_self(void) {
  uint64_t kill = 1ULL << CAP_KILL;
  drop_bounding(kill);
  set_caps(kill, kill, 0);
  SYS(prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  SYS(prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static int64_t usec(long sec, long us) { return (int64_t)sec * 1000000 + us; }

/* One message, so the server wakes once for the whole end of the task. */
static _Noreturn void report_exit(int status) {
  struct rusage_k ru;
  struct rec recs[4];
  size_t n = 0;
  /* Our own rusage dates from before exec, when this process still shared
   * the server's memory; the task's is RUSAGE_CHILDREN. */
  if (SYS(getrusage, RUSAGE_CHILDREN, &ru, 0, 0, 0) == 0) {
    recs[n++] = (struct rec){BK_REC_MAXRSS, 0, ru.maxrss};
    recs[n++] = (struct rec){BK_REC_UTIME, 0, usec(ru.utime_sec, ru.utime_usec)};
    recs[n++] = (struct rec){BK_REC_STIME, 0, usec(ru.stime_sec, ru.stime_usec)};
  }
  recs[n++] = (struct rec){BK_REC_EXITED, 0, status};
  send_records(recs, n);
  exit_now(0);
}

static _Noreturn void supervise(long main_pid) {
  uint64_t all = ~0ULL;
  uint8_t info[128]; /* siginfo_t */
  for (;;) {
    long sig = SYS(rt_sigtimedwait, &all, info, NULL, SIGSET_BYTES, 0);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      SYS(kill, main_pid, sig, 0, 0, 0);
      continue;
    }
    for (;;) {
      int status;
      long p = SYS(wait4, -1, &status, WNOHANG | __WALL, NULL, 0);
      if (p <= 0) break;
      if (p == main_pid) report_exit(status);
    }
  }
}

static int init_main(void) {
  /* Every signal is blocked and taken with sigtimedwait: a blocked signal is
   * queued even for a PID 1 without handlers, so none is lost. */
  uint64_t all = ~0ULL;
  SYS(rt_sigprocmask, 2 /* SIG_SETMASK */, &all, NULL, SIGSET_BYTES, 0);
  long self = SYS(getpid, 0, 0, 0, 0, 0);
  if (self != 1) SYS(prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  static struct identity id;
  decode_identity(&id, receive(NULL));

  long main_pid = SYS(clone, SIGCHLD, 0, NULL, NULL, 0); /* fork */
  if (main_pid < 0) fail(BK_STEP_FORK, main_pid);
  if (main_pid == 0) {
    take_identity(&id, self);
    run_task();
  }
  harden_self();
  supervise(main_pid);
}

/* The entry point: no libc to set anything up, and nothing here needs it. */
__attribute__((used)) _Noreturn void start_c(void) { exit_now(init_main()); }
__asm__(
    ".text\n"
    ".globl _start\n"
    ".type _start,@function\n"
    "_start:\n"
    "  xor %ebp, %ebp\n"
    "  and $-16, %rsp\n"
    "  call start_c\n"
    "  hlt\n");
