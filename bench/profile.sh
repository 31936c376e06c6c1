#!/usr/bin/env bash
# Where the CPU of isolated starts goes: `perf record -a -g` over sustained
# cold starts of /bin/true (2 in flight, bench/sustained.ts), summarised by
# process and by system call into bench/results/profile.md. Needs root and perf.
set -eu
cd "$(dirname "$0")/.."
if ! command -v perf >/dev/null; then
  echo "bench/profile.sh: perf is not installed (apt-get install linux-perf)" >&2
  exit 1
fi
seconds=${1:-5}
data=$(mktemp)
trap 'rm -f "$data"' EXIT
rate=$(perf record -a -g -F 2999 -o "$data" -- node_modules/.bin/bun bench/sustained.ts "$seconds" 2 cold 2>/dev/null)
floor=$(node_modules/.bin/bun bench/sustained.ts "$seconds" 2 spawn)
report() { perf report -i "$data" --stdio -g none "$@" 2>/dev/null | grep -v '^#' | grep -v '^$' || true; }
{
  echo "# Where an isolated start's CPU goes"
  echo
  echo "$(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), \`bash bench/profile.sh $seconds\` on $(nproc) cores."
  echo "Sampled: $rate. Unisolated floor, same machine: $floor."
  echo
  echo "## By process and object (share of all samples on all cores; swapper = idle)"
  echo '```'
  report --no-children --sort comm,dso | head -20
  echo '```'
  echo
  echo "## System calls, with everything they call (children included)"
  echo '```'
  report --children --sort comm,sym | grep -E '__x64_sys_|do_exit$|exc_page_fault$' | head -30
  echo '```'
} > bench/results/profile.md
echo "wrote bench/results/profile.md"
