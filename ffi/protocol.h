/* The contract between src/sys/plan.ts, ffi/spawn.c and ffi/init.c.
 * Numbers here are mirrored in src/sys/protocol.ts; test/sys/protocol.test.ts
 * checks the two agree. */
#ifndef BUNKER_PROTOCOL_H
#define BUNKER_PROTOCOL_H

#define BK_PLAN_MAGIC 0x424b5031u /* "BKP1" */

/* Steps of the plan, run in order by the cloned child. */
#define BK_OP_MOUNT 1      /* s0 source, s1 target, s2 fstype, s3 data; num = MS_* flags */
#define BK_OP_REMOUNT 2    /* s0 target; num = MS_* flags added to MS_REMOUNT|MS_BIND */
#define BK_OP_MKDIR 3      /* s0 path; num = mode */
#define BK_OP_TOUCH 4      /* s0 path; num = mode (an empty file to bind a node onto) */
#define BK_OP_SYMLINK 5    /* s0 target, s1 link path */
#define BK_OP_WRITE 6      /* s0 path, s1 data (cgroup.procs joins, oom_score_adj) */
#define BK_OP_HOSTNAME 7   /* s0 name */
#define BK_OP_PIVOT_ROOT 8 /* s0 new root */
#define BK_OP_CHROOT 9     /* s0 new root */
#define BK_OP_CHDIR 10     /* s0 path */
#define BK_OP_UMOUNT 11    /* s0 path; num = umount2 flags */
#define BK_OP_MKNOD 12     /* s0 path, s1 dev_t in decimal; num = S_IFCHR | mode */
#define BK_OP_SETNS 13     /* num = fd (a pidfd or an nsfs file), s0 = CLONE_NEW* mask in decimal */
#define BK_OP_LOOPBACK_UP 14 /* bring "lo" up in the current network namespace */
#define BK_OP_WAIT 15 /* num = fd, s0 = the write end in decimal (closed first): read one byte ("go on"); EOF = the server gave up (ECANCELED) */

/* Or-ed into an op code: a missing target (ENOENT) skips the step. */
#define BK_OP_OPTIONAL 0x100

/* The control socket (SOCK_SEQPACKET, fd 3 in bunker-init). Little-endian;
 * str = u32 length, the bytes, NUL.
 *
 * server -> init, first: the task's identity, no fds attached:
 *   u32 BK_ID_MAGIC, u32 uid, u32 gid, u32 ngroups, u32 groups[ngroups],
 *   u64 caps[5] (effective, permitted, inheritable, bounding, ambient),
 *   u32 flags (BK_REQ_NO_NEW_PRIVS), u32 nlimits,
 *   {u32 resource, u64 soft, u64 hard}[nlimits]
 * The server sends it with the clone, so init forks the task's process and
 * that process takes the identity while the slot waits (a pool's zygote).
 *
 * server -> the task's process, second: the exec request, with the task's
 * stdin, stdout and stderr attached as SCM_RIGHTS:
 *   u32 BK_REQ_MAGIC, u32 flags (BK_REQ_TTY), str cwd, str path,
 *   u32 argc, str argv[argc], u32 envc, str envp[envc]
 *
 * init -> server: records of 16 bytes: int32 kind, int32 step, int64 value;
 * the end of the task comes as one message of several records.
 * EOF on the socket means bunker-init has exited. */
#define BK_ID_MAGIC 0x424b4931u  /* "BKI1" */
#define BK_REQ_MAGIC 0x424b5232u /* "BKR2" */
#define BK_REQ_NO_NEW_PRIVS 0x1
#define BK_REQ_TTY 0x2 /* stdin is a terminal: make it the controlling tty of the new session */
#define BK_REQ_MAX (1024 * 1024)

#define BK_REC_SETUP_FAILED 1 /* step = op index or BK_STEP_*, value = errno */
#define BK_REC_EXITED 2       /* value = wait status of the task's main process */
#define BK_REC_MAXRSS 3       /* value = largest RSS among the task's reaped processes, KiB */
#define BK_REC_UTIME 4        /* value = user CPU of the task's reaped processes, microseconds */
#define BK_REC_STIME 5        /* value = system CPU of the task's reaped processes, microseconds */

/* Steps that are not plan ops. */
#define BK_STEP_PDEATHSIG 1000
#define BK_STEP_FDS 1001
#define BK_STEP_EXEC_INIT 1002
#define BK_STEP_FORK 1003
#define BK_STEP_RLIMIT 1004
#define BK_STEP_BOUNDING 1005
#define BK_STEP_SETGROUPS 1006
#define BK_STEP_SETGID 1007
#define BK_STEP_SETUID 1008
#define BK_STEP_CAPSET 1009
#define BK_STEP_AMBIENT 1010
#define BK_STEP_NO_NEW_PRIVS 1011
#define BK_STEP_CHDIR 1012
#define BK_STEP_EXEC 1013
#define BK_STEP_ARGS 1014
#define BK_STEP_SETSID 1015
#define BK_STEP_REQUEST 1016

/* Exit code of a child whose setup failed (the record says why). */
#define BK_EXIT_SETUP 125

#endif
