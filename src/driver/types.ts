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
  /** Nomad `volume_mount` blocks, host paths already resolved from the plugin's host_volumes. */
  volumeMounts?: VolumeMountSpec[];
  /** Nomad `artifact` blocks, fetched into the task dir before the task starts. */
  artifacts?: ArtifactSpec[];
  /** Nomad `network`; absent = the host's stack. */
  network?: NetworkSpec;
}

export interface NetworkSpec {
  mode: "host" | "group" | "none";
  /** Tasks naming the same group share one network namespace. */
  group?: string;
  dns?: { servers: string[]; searches: string[]; options: string[] };
}

/** Nomad's propagation_mode names: MS_PRIVATE, MS_SLAVE, MS_SHARED on the task side. */
export type Propagation = "private" | "host-to-task" | "bidirectional";

export interface VolumeMountSpec {
  /** The host volume's name (plugin host_volumes), for messages. */
  volume: string;
  /** Absolute host path bound into the task. */
  source: string;
  /** Absolute path inside the task root. */
  destination: string;
  readOnly: boolean;
  propagation: Propagation;
}

export type ArtifactMode = "any" | "file" | "dir";

export interface ArtifactSpec {
  /** http:// or https:// URL. */
  source: string;
  /** Relative to the task dir (Nomad's default "local/"). */
  destination: string;
  mode: ArtifactMode;
  /** `type:hex` (md5, sha1, sha256, sha512), checked on the downloaded bytes before unpacking. */
  checksum?: string;
  /** Unpack tar/tar.gz/tgz/zip/gz by extension (go-getter's rule); false = keep the file as is. */
  archive: boolean;
  /** HTTP request headers. */
  headers: Record<string, string>;
}

/** Limits on artifact downloads and unpacking (the plugin's `artifact` block, Nomad's client names). */
export interface ArtifactLimits {
  /** Whole download, connect to last byte (http_read_timeout). */
  httpReadTimeoutMs: number;
  /** Max bytes of one download (http_max_size). */
  httpMaxBytes: number;
  /** Max bytes of everything one archive unpacks to (decompression_size_limit). */
  decompressionSizeLimit: number;
  /** Max entries in one archive (decompression_file_count_limit). */
  decompressionFileCountLimit: number;
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
