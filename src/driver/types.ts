/**
 * The driver's vocabulary, one type per stage (see STYLE.md):
 * TaskSpec (validated, defaults applied) -> SpawnPlan (sys) -> Child -> Outcome + Usage.
 * Field names follow Nomad's task and plugin config so a Nomad user recognises them.
 */

export type NamespaceMode = "private" | "host";

/** Nomad `resources { ... }` plus Bunker's pids limit. */
export interface Resources {
  /** CPU in MHz (Nomad default 100) -> cpu weight/shares. */
  cpu: number;
  /** Optional hard cap in MHz (Bunker extension; Nomad has none). */
  cpuHardMhz?: number;
  /** Exclusive cores -> cpuset. */
  cores?: number;
  /** Memory in MB (Nomad default 300): hard limit, or reservation when memoryMax is set. */
  memory: number;
  /** Memory hard limit in MB when oversubscribing. */
  memoryMax?: number;
  /** Max processes in the task's cgroup (Bunker extension; Nomad has none). */
  pids?: number;
}

export interface TaskSpec {
  /** Task name; becomes the hostname inside the UTS namespace. */
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** User name or numeric uid; default "nobody". */
  user: string;
  pidMode: NamespaceMode;
  ipcMode: NamespaceMode;
  capAdd: string[];
  capDrop: string[];
  /** Absolute path inside the task root; default the task dir's /local? no: "/" like Nomad. */
  workDir?: string;
  /** Signal name sent on stop, default SIGINT. */
  killSignal: string;
  /** Grace before SIGKILL, already capped by the plugin's max_kill_timeout. */
  killTimeoutMs: number;
  /** Wall-clock limit for the whole run (Bunker: function timeout). */
  timeoutMs?: number;
  resources: Resources;
}

export interface PluginConfig {
  defaultPidMode: NamespaceMode;
  defaultIpcMode: NamespaceMode;
  noPivotRoot: boolean;
  /** Capability names without CAP_ prefix, upper case; "all" expands to every supported cap. */
  allowCaps: string[] | "all";
  /** host path -> task path. Replaces the default map when set. */
  chrootEnv: Record<string, string>;
  deniedHostUids: string;
  deniedHostGids: string;
  maxKillTimeoutMs: number;
}

export type TerminationReason = "exited" | "signaled" | "timeout" | "oom" | "stopped" | "setup_failed";

export interface Usage {
  cpuUserMs: number;
  cpuSystemMs: number;
  /** Peak memory of the task's cgroup in bytes (0 when the layout cannot tell). */
  memoryPeakBytes: number;
  /** Peak number of processes in the task's cgroup (0 when unknown). */
  pidsPeak: number;
  /** Max resident set size of the largest process (from rusage), bytes. */
  maxRssBytes: number;
}

export interface Outcome {
  reason: TerminationReason;
  /** Process exit code, or 128+N when killed by signal N, 124 on timeout, 126/127 setup failures. */
  exitCode: number;
  /** Signal number that ended the task, when it was one. */
  signal: number | null;
  wallMs: number;
  usage: Usage;
  /** Set when reason is setup_failed: which step failed and why. */
  error?: string;
}
