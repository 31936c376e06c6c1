/**
 * Mirror of ffi/protocol.h: plan op codes, status records and step numbers.
 * test/sys/protocol.test.ts parses the header and checks every value here.
 */
export const BK_PLAN_MAGIC = 0x424b5031;

export const BK_OP_MOUNT = 1;
export const BK_OP_REMOUNT = 2;
export const BK_OP_MKDIR = 3;
export const BK_OP_TOUCH = 4;
export const BK_OP_SYMLINK = 5;
export const BK_OP_WRITE = 6;
export const BK_OP_HOSTNAME = 7;
export const BK_OP_PIVOT_ROOT = 8;
export const BK_OP_CHROOT = 9;
export const BK_OP_CHDIR = 10;
export const BK_OP_UMOUNT = 11;
export const BK_OP_MKNOD = 12;
export const BK_OP_SETNS = 13;
export const BK_OP_LOOPBACK_UP = 14;
export const BK_OP_WAIT = 15;
/** Or-ed into an op code: a missing target (ENOENT) skips the step. */
export const BK_OP_OPTIONAL = 0x100;

export const BK_ID_MAGIC = 0x424b4931;
export const BK_REQ_MAGIC = 0x424b5232;
export const BK_REQ_NO_NEW_PRIVS = 0x1;
export const BK_REQ_TTY = 0x2;
export const BK_REQ_MAX = 1024 * 1024;

export const BK_REC_SETUP_FAILED = 1;
export const BK_REC_EXITED = 2;
export const BK_REC_MAXRSS = 3;
export const BK_REC_UTIME = 4;
export const BK_REC_STIME = 5;

export const BK_STEP_PDEATHSIG = 1000;
export const BK_STEP_FDS = 1001;
export const BK_STEP_EXEC_INIT = 1002;
export const BK_STEP_FORK = 1003;
export const BK_STEP_RLIMIT = 1004;
export const BK_STEP_BOUNDING = 1005;
export const BK_STEP_SETGROUPS = 1006;
export const BK_STEP_SETGID = 1007;
export const BK_STEP_SETUID = 1008;
export const BK_STEP_CAPSET = 1009;
export const BK_STEP_AMBIENT = 1010;
export const BK_STEP_NO_NEW_PRIVS = 1011;
export const BK_STEP_CHDIR = 1012;
export const BK_STEP_EXEC = 1013;
export const BK_STEP_ARGS = 1014;
export const BK_STEP_SETSID = 1015;
export const BK_STEP_REQUEST = 1016;

export const BK_EXIT_SETUP = 125;

/** What each non-op step does, for error messages. */
export const STEP_NAMES: Record<number, string> = {
  [BK_STEP_PDEATHSIG]: "prctl(PR_SET_PDEATHSIG)",
  [BK_STEP_FDS]: "set up stdio",
  [BK_STEP_EXEC_INIT]: "exec bunker-init",
  [BK_STEP_FORK]: "fork the task",
  [BK_STEP_RLIMIT]: "setrlimit",
  [BK_STEP_BOUNDING]: "drop capability bounding set",
  [BK_STEP_SETGROUPS]: "setgroups",
  [BK_STEP_SETGID]: "setgid",
  [BK_STEP_SETUID]: "setuid",
  [BK_STEP_CAPSET]: "capset",
  [BK_STEP_AMBIENT]: "raise ambient capabilities",
  [BK_STEP_NO_NEW_PRIVS]: "prctl(PR_SET_NO_NEW_PRIVS)",
  [BK_STEP_CHDIR]: "chdir into work_dir",
  [BK_STEP_EXEC]: "exec",
  [BK_STEP_ARGS]: "parse bunker-init arguments",
  [BK_STEP_SETSID]: "setsid",
  [BK_STEP_REQUEST]: "receive the task request",
};

/** Kernel constants in their C spelling, so one grep finds them in C and TypeScript. */
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;
export const CLONE_NEWCGROUP = 0x02000000;

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;

export const MNT_DETACH = 0x2;
export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_DIRECTORY = 0o200000;
export const O_PATH = 0o10000000;
