# Shared helpers of the benchmark scripts: timing, medians, a local registry.
# Source it from a bench/ script; it expects to run from the repository root, as root.

set -euo pipefail

# median FILE: the median of the numbers in FILE, one per line.
median() { sort -g "$1" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# measure OUT_FILE CMD...: appends "seconds max_rss_kib" of one run of CMD to OUT_FILE.
measure() {
  local out=$1; shift
  /usr/bin/time -f "%e %M" -o "$out.one" "$@" >/dev/null 2>"$out.err" || { cat "$out.err" >&2; return 1; }
  cat "$out.one" >> "$out"
}

# column N FILE: the Nth column of FILE.
column() { awk -v n="$1" '{ print $n }' "$2"; }

# start_registry [--big MB]: starts berth-testkit's registry; sets BUSYBOX (and BIG) references.
start_registry() {
  coproc REGISTRY { target/release/berth-testkit serve "$@"; }
  read -r BUSYBOX <&"${REGISTRY[0]}"
  if [ $# -gt 0 ]; then read -r BIG <&"${REGISTRY[0]}"; fi
  export BUSYBOX BIG
}

# stop_registry: closes the registry's input (it then exits) and waits for it. A registry that
# already ended has no input left to close (bash unsets REGISTRY; `exec` on it would end the
# script).
stop_registry() {
  if [ -n "${REGISTRY[1]:-}" ]; then exec {REGISTRY[1]}>&-; fi
  wait "${REGISTRY_PID:-}" 2>/dev/null || true
}

# remove_cgroup_parent NAME: removes the (empty) cgroup NAME a script's containers were made
# in, from every hierarchy.
remove_cgroup_parent() { for h in /sys/fs/cgroup/ /sys/fs/cgroup/*/; do rmdir "$h$1" 2>/dev/null || true; done; }

# await_removals DIR: waits for the processes that remove ended --rm containers (their cgroups and
# directories) of the data roots in DIR (each holds its directory's lock until it is done), so
# that DIR and the cgroup parent can go.
await_removals() { for d in "$1"/*/removing/*/; do [ -d "$d" ] && flock "$d" true 2>/dev/null; done; true; }

# unmount_under DIR: lazily unmounts everything mounted below DIR (what a peer engine left).
unmount_under() { { grep -o " $1[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done; }

# results_begin NAME ARGS: starts bench/results/NAME.tsv anew (the current results of one
# benchmark, which bench/report turns into docs/benchmarks.md's table and plot): a header with
# the command, the date, the commit and the machine, then the column names.
results_begin() {
  RESULTS="bench/results/$1.tsv"
  mkdir -p bench/results
  {
    printf '# bench/%s %s | %s | %s | %s cores, %s, kernel %s\n' "$1" "$2" "$(date -u +%F)" \
      "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(nproc)" "$(cgroup_mode)" "$(uname -r | cut -d- -f1)"
    printf 'metric\tengine\tvalue\tunit\tgoal\n'
  } >"$RESULTS"
}

# result METRIC ENGINE VALUE UNIT [GOAL]: one row of the current results. The first row of a
# metric is berth's; GOAL, on a peer's row, is the goal for berth's value over the peer's
# ("<= 0.7").
result() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$RESULTS"; }

# cgroup_mode: v1, v2 or hybrid, as this host mounts cgroups.
cgroup_mode() {
  if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then echo "cgroup v2"
  elif [ -d /sys/fs/cgroup/unified ]; then echo "hybrid cgroups"
  else echo "cgroup v1"; fi
}
