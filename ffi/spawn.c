/*
 * libbunker: the native side of Bunker's spawn, loaded by src/sys through bun:ffi.
 *
 * Bun is multi-threaded, so a child of clone may run only async-signal-safe
 * code until execve (ARCHITECTURE.md rule 1). The parent (TypeScript) builds a
 * complete plan as one byte buffer; bk_spawn parses it here, in the parent,
 * into arrays on its own stack, then clones a child that shares the parent's
 * memory (CLONE_VM | CLONE_VFORK, as posix_spawn does) and executes the plan's
 * steps in order with raw syscalls only. The last step execs bunker-init
 * (ffi/init.c), which applies credentials and forks the task. See
 * ffi/README.md for the protocol.
 *
 * Every function here returns -errno on failure, never sets errno for the
 * caller to read: errno is thread-local and Bun may run code between calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol.h"

#define MAX_OPS 256
#define MAX_STRS 4096
#define CHILD_STACK (128 * 1024)

struct op {
  uint32_t code;
  uint32_t num;      /* flags or mode */
  const char *s[4];  /* string arguments, NULL when absent */
};

struct plan {
  uint64_t clone_flags;
  int32_t cgroup_fd;
  int32_t init_fd;
  int32_t stdio[3];
  int32_t status_fd;
  uint32_t nops;
  struct op ops[MAX_OPS];
  char *argv[MAX_STRS];
  char *envp[MAX_STRS];
};

/* ---------- plan decoding (parent side, before clone: may allocate nothing) ---------- */

struct reader {
  const uint8_t *p;
  const uint8_t *end;
};

static int read_u32(struct reader *r, uint32_t *out) {
  if (r->end - r->p < 4) return -EINVAL;
  memcpy(out, r->p, 4);
  r->p += 4;
  return 0;
}

static int read_u64(struct reader *r, uint64_t *out) {
  if (r->end - r->p < 8) return -EINVAL;
  memcpy(out, r->p, 8);
  r->p += 8;
  return 0;
}

/* Strings are u32 length, bytes, NUL. A zero length with no bytes encodes NULL. */
static int read_str(struct reader *r, const char **out) {
  uint32_t len;
  if (read_u32(r, &len)) return -EINVAL;
  if (len == UINT32_MAX) {
    *out = NULL;
    return 0;
  }
  if ((uint64_t)(r->end - r->p) < (uint64_t)len + 1 || r->p[len] != '\0') return -EINVAL;
  *out = (const char *)r->p;
  r->p += len + 1;
  return 0;
}

static int read_strv(struct reader *r, char **v) {
  uint32_t n;
  if (read_u32(r, &n) || n >= MAX_STRS) return -EINVAL;
  for (uint32_t i = 0; i < n; i++) {
    const char *s;
    if (read_str(r, &s) || s == NULL) return -EINVAL;
    v[i] = (char *)s;
  }
  v[n] = NULL;
  return 0;
}

static int decode(struct plan *pl, const uint8_t *buf, uint32_t len) {
  struct reader r = {buf, buf + len};
  uint32_t magic, v[6];
  if (read_u32(&r, &magic) || magic != BK_PLAN_MAGIC) return -EPROTO;
  if (read_u64(&r, &pl->clone_flags)) return -EINVAL;
  for (int i = 0; i < 6; i++)
    if (read_u32(&r, &v[i])) return -EINVAL;
  pl->cgroup_fd = (int32_t)v[0];
  pl->init_fd = (int32_t)v[1];
  pl->stdio[0] = (int32_t)v[2];
  pl->stdio[1] = (int32_t)v[3];
  pl->stdio[2] = (int32_t)v[4];
  pl->status_fd = (int32_t)v[5];
  if (read_u32(&r, &pl->nops) || pl->nops > MAX_OPS) return -EINVAL;
  for (uint32_t i = 0; i < pl->nops; i++) {
    struct op *op = &pl->ops[i];
    uint32_t nstr;
    if (read_u32(&r, &op->code) || read_u32(&r, &op->num) || read_u32(&r, &nstr) || nstr > 4) return -EINVAL;
    for (uint32_t k = 0; k < 4; k++) {
      op->s[k] = NULL;
      if (k < nstr && read_str(&r, &op->s[k])) return -EINVAL;
    }
  }
  if (read_strv(&r, pl->argv) || read_strv(&r, pl->envp)) return -EINVAL;
  return r.p == r.end ? 0 : -EINVAL;
}

/* ---------- the child: async-signal-safe only ---------- */

static void report(int fd, int32_t kind, int32_t step, int32_t err) {
  struct {
    int32_t kind, step;
    int64_t value;
  } rec = {kind, step, err};
  /* One record is one datagram on the SEQPACKET socket: never split. */
  ssize_t ignored = write(fd, &rec, sizeof rec);
  (void)ignored;
}

static int write_all(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t n = strlen(data);
  ssize_t w = write(fd, data, n);
  int err = w < 0 ? -errno : ((size_t)w == n ? 0 : -EIO);
  close(fd);
  return err;
}

/* A decimal number from a plan string; by hand, since strtoul is not on the
 * async-signal-safe list. -EINVAL on anything but digits. */
static int parse_decimal(const char *s, unsigned long long *out) {
  unsigned long long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -EINVAL;
    v = v * 10 + (unsigned long long)(*s - '0');
  }
  *out = v;
  return 0;
}

static int run_op(const struct op *op) {
  switch (op->code & ~BK_OP_OPTIONAL) {
    case BK_OP_MOUNT:
      return mount(op->s[0], op->s[1], op->s[2], op->num, op->s[3]) ? -errno : 0;
    case BK_OP_REMOUNT:
      /* Bind mounts ignore MS_RDONLY on the first call: read-only needs a remount. */
      return mount(NULL, op->s[0], NULL, MS_REMOUNT | MS_BIND | op->num, NULL) ? -errno : 0;
    case BK_OP_MKDIR:
      /* The child runs with umask 0 (child_main), so a new directory has its mode. */
      if (mkdir(op->s[0], op->num) == 0) return 0;
      if (errno != EEXIST) return -errno;
      return chmod(op->s[0], op->num) ? -errno : 0;
    case BK_OP_WAIT: {
      /* The server does its share of the work (a task's v1 cgroups) while this
       * child builds the root, and says when it is done. The child got a copy
       * of the server's write end at the clone: closed first, or a server that
       * gives up (closes its end without writing) would never be seen. */
      unsigned long long server_end;
      if (parse_decimal(op->s[0], &server_end)) return -EINVAL;
      close((int)server_end);
      char go;
      ssize_t n;
      do n = read((int)op->num, &go, 1);
      while (n < 0 && errno == EINTR);
      if (n < 0) return -errno;
      return n == 1 ? 0 : -ECANCELED;
    }
    case BK_OP_TOUCH: {
      int fd = open(op->s[0], O_WRONLY | O_CREAT | O_CLOEXEC, op->num);
      if (fd < 0) return -errno;
      close(fd);
      return 0;
    }
    case BK_OP_SYMLINK:
      return symlink(op->s[0], op->s[1]) && errno != EEXIST ? -errno : 0;
    case BK_OP_WRITE:
      return write_all(op->s[0], op->s[1]);
    case BK_OP_HOSTNAME:
      return sethostname(op->s[0], strlen(op->s[0])) ? -errno : 0;
    case BK_OP_PIVOT_ROOT:
      /* pivot_root(".", ".") stacks the old root under the new one; detaching it
       * leaves the task no path back to the host (as runc and bubblewrap do). */
      if (chdir(op->s[0])) return -errno;
      if (syscall(SYS_pivot_root, ".", ".")) return -errno;
      if (umount2(".", MNT_DETACH)) return -errno;
      return chdir("/") ? -errno : 0;
    case BK_OP_CHROOT:
      if (chdir(op->s[0]) || chroot(".")) return -errno;
      return chdir("/") ? -errno : 0;
    case BK_OP_CHDIR:
      return chdir(op->s[0]) ? -errno : 0;
    case BK_OP_MKNOD: {
      /* s1 is the kernel's dev_t in decimal. */
      unsigned long long dev;
      if (parse_decimal(op->s[1], &dev)) return -EINVAL;
      if (mknod(op->s[0], op->num, (dev_t)dev) == 0) return 0;
      if (errno != EEXIST) return -errno;
      return chmod(op->s[0], op->num & 07777) ? -errno : 0;
    }
    case BK_OP_SETNS: {
      unsigned long long nstype;
      if (parse_decimal(op->s[0], &nstype)) return -EINVAL;
      return setns((int)op->num, (int)nstype) ? -errno : 0;
    }
    case BK_OP_LOOPBACK_UP: {
      /* A new network namespace has only "lo", and it is down. */
      int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (sock < 0) return -errno;
      struct ifreq ifr;
      memset(&ifr, 0, sizeof ifr);
      memcpy(ifr.ifr_name, "lo", 3);
      int err = ioctl(sock, SIOCGIFFLAGS, &ifr) ? -errno : 0;
      if (!err) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        err = ioctl(sock, SIOCSIFFLAGS, &ifr) ? -errno : 0;
      }
      close(sock);
      return err;
    }
    case BK_OP_UMOUNT:
      return umount2(op->s[0], (int)op->num) ? -errno : 0;
    default:
      return -EINVAL;
  }
}

/* Moves the three stdio fds and the status fd to 0..3, bunker-init's fd to 4
 * (close-on-exec, so exec closes it), and closes every other fd. */
static int place_fds(const struct plan *pl) {
  int tmp[5];
  const int32_t src[5] = {pl->stdio[0], pl->stdio[1], pl->stdio[2], pl->status_fd, pl->init_fd};
  /* First lift every source above 4 so that a source that is itself 0..4
   * is not overwritten before it is used. */
  for (int i = 0; i < 5; i++) {
    tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10);
    if (tmp[i] < 0) return -errno;
  }
  for (int i = 0; i < 4; i++)
    if (dup2(tmp[i], i) < 0) return -errno;
  if (dup3(tmp[4], 4, O_CLOEXEC) < 0) return -errno;
  /* Nothing of the server may reach the task: every other fd goes. */
  if (syscall(SYS_close_range, 5U, ~0U, 0U)) return -errno;
  return 0;
}

static int child_main(void *arg) {
  const struct plan *pl = arg;
  int status = pl->status_fd;
  /* Die with the server: a task must not outlive the process that records it. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    report(status, BK_REC_SETUP_FAILED, BK_STEP_PDEATHSIG, errno);
    _exit(BK_EXIT_SETUP);
  }
  /* Modes in the plan are exact: no chmod after each mkdir/mknod. The umask is
   * this child's own (no CLONE_FS), and bunker-init and the task get the
   * server's back below. */
  mode_t umask_before = umask(0);
  for (uint32_t i = 0; i < pl->nops; i++) {
    int err = run_op(&pl->ops[i]);
    /* Optional steps (masks of /proc files a kernel may not have) skip ENOENT. */
    if (err == -ENOENT && (pl->ops[i].code & BK_OP_OPTIONAL)) continue;
    if (err) {
      report(status, BK_REC_SETUP_FAILED, (int32_t)i, -err);
      _exit(BK_EXIT_SETUP);
    }
  }
  umask(umask_before);
  int err = place_fds(pl);
  if (err) {
    report(pl->status_fd, BK_REC_SETUP_FAILED, BK_STEP_FDS, -err);
    _exit(BK_EXIT_SETUP);
  }
  syscall(SYS_execveat, 4, "", pl->argv, pl->envp, AT_EMPTY_PATH);
  report(3, BK_REC_SETUP_FAILED, BK_STEP_EXEC_INIT, errno);
  _exit(BK_EXIT_SETUP);
}

/* ---------- clone3 on a separate stack ----------
 * clone3 has no libc wrapper that takes a function; with CLONE_VM the child
 * must not return into the parent's frames, so it starts on its own stack and
 * calls fn(arg) from this trampoline. x86_64: the kernel preserves every
 * register except rax, rcx and r11 across syscall, so fn and arg survive in
 * r12/r13 (callee-saved, restored for the parent). */
#if defined(__x86_64__)
long bk_clone3_tramp(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
__asm__(
    ".text\n"
    ".globl bk_clone3_tramp\n"
    ".hidden bk_clone3_tramp\n"
    ".type bk_clone3_tramp,@function\n"
    "bk_clone3_tramp:\n"
    "  push %r12\n"
    "  push %r13\n"
    "  mov %rdx, %r12\n"
    "  mov %rcx, %r13\n"
    "  mov $435, %eax\n" /* SYS_clone3 */
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jnz 1f\n"
    "  xor %ebp, %ebp\n"
    "  mov %r13, %rdi\n"
    "  call *%r12\n"
    "  mov %eax, %edi\n"
    "  mov $60, %eax\n" /* SYS_exit */
    "  syscall\n"
    "  hlt\n"
    "1:\n"
    "  pop %r13\n"
    "  pop %r12\n"
    "  ret\n");
#else
#error "bk_clone3_tramp is written for x86_64 only"
#endif

/*
 * Starts a child from a plan. Returns the child's pid (>0) and writes its
 * pidfd to out[0], or returns -errno when the clone itself failed.
 * Failures inside the child arrive on the status pipe, never here.
 */
int bk_spawn(const uint8_t *buf, uint32_t len, int32_t *out) {
  static __thread struct plan pl; /* too big for Bun's thread stacks; one spawn per thread at a time */
  int err = decode(&pl, buf, len);
  if (err) return err;

  void *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -errno;

  int pidfd = -1;
  struct clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = pl.clone_flags | CLONE_VM | CLONE_VFORK | CLONE_PIDFD;
  ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
  ca.exit_signal = SIGCHLD;
  ca.stack = (uint64_t)(uintptr_t)stack;
  ca.stack_size = CHILD_STACK;
  if (pl.cgroup_fd >= 0) {
    ca.flags |= CLONE_INTO_CGROUP;
    ca.cgroup = (uint64_t)pl.cgroup_fd;
  }

  /* Block every signal so no Bun handler runs on the child's stack while it
   * shares our memory; the child never unblocks (bunker-init resets them). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = bk_clone3_tramp(&ca, sizeof ca, child_main, &pl);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  munmap(stack, CHILD_STACK);
  if (pid < 0) return (int)pid;
  out[0] = pidfd;
  return (int)pid;
}

/* ---------- thin libc wrappers for the parent, each returning -errno ---------- */

/* Non-blocking reap. Returns pid, 0 while running, or -errno. out: [status, utime_us, stime_us, maxrss_kb] */
int64_t bk_wait(int32_t pid, int64_t *out) {
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  pid_t r = wait4(pid, &status, WNOHANG | __WALL, &ru);
  if (r < 0) return -errno;
  out[0] = status;
  out[1] = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
  out[2] = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  out[3] = ru.ru_maxrss;
  return r;
}

/* out[0] = the server's end, out[1] = the child's end; SOCK_SEQPACKET, close-on-exec. */
int bk_socketpair(int32_t *out) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds)) return -errno;
  int size = BK_REQ_MAX + 4096;
  /* A request (argv + env) is one datagram: the buffer must hold it whole. */
  if (setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size)) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return -err;
  }
  out[0] = fds[0];
  out[1] = fds[1];
  return 0;
}

/* Sends one message datagram, with three fds (the task's stdio) attached
 * unless fds is NULL. */
int bk_send_request(int32_t sock, const uint8_t *buf, uint32_t len, const int32_t *fds) {
  struct iovec iov = {(void *)buf, len};
  union {
    char buf[CMSG_SPACE(3 * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fds) {
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(3 * sizeof(int));
    memcpy(CMSG_DATA(c), fds, 3 * sizeof(int));
  }
  ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  if (n < 0) return -errno;
  return n == (ssize_t)len ? 0 : -EMSGSIZE;
}

/* Opens a new pty pair from the devpts instance of `ptmx` (a task's own
 * /dev/pts/ptmx, reached through /proc/<pid>/root). The peer is opened with
 * TIOCGPTPEER so no path is trusted. out = [master, peer]. */
int bk_open_pty(const char *ptmx, int32_t *out) {
  int master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return -errno;
  int unlock = 0;
  int peer = -1;
  if (ioctl(master, TIOCSPTLCK, &unlock) == 0) peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (peer < 0) {
    int err = errno;
    close(master);
    return -err;
  }
  out[0] = master;
  out[1] = peer;
  return 0;
}

int bk_set_winsize(int32_t fd, int32_t cols, int32_t rows) {
  struct winsize ws = {(unsigned short)rows, (unsigned short)cols, 0, 0};
  return ioctl(fd, TIOCSWINSZ, &ws) ? -errno : 0;
}

int bk_pidfd_signal(int32_t pidfd, int32_t sig) {
  return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) ? -errno : 0;
}

int bk_kill(int32_t pid, int32_t sig) { return kill(pid, sig) ? -errno : 0; }

/* out[0] = read end, out[1] = write end; both close-on-exec. */
int bk_pipe(int32_t *out) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC)) return -errno;
  out[0] = fds[0];
  out[1] = fds[1];
  return 0;
}

int bk_open(const char *path, int32_t flags, int32_t mode) {
  int fd = open(path, flags | O_CLOEXEC, mode);
  return fd < 0 ? -errno : fd;
}

int bk_close(int32_t fd) { return close(fd) ? -errno : 0; }

/* Reads up to len bytes without blocking (the fd must be O_NONBLOCK or readable). */
int64_t bk_read(int32_t fd, uint8_t *buf, int64_t len) {
  ssize_t n = read(fd, buf, (size_t)len);
  return n < 0 ? -errno : n;
}

int bk_set_nonblock(int32_t fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  return 0;
}

int bk_umount(const char *path, int32_t flags) { return umount2(path, flags) ? -errno : 0; }
