#!/usr/bin/env bash
# bench/run.sh — scheduling overhead of shipgate vs ninja, make (and go-task)
# on N trivial jobs. See bench/README.md.
#
# usage: bench/run.sh [N ...]            (default N: 1000)
# env:   SHAPES="wide chain"  REPEAT=3  WARMUP=1  PARALLEL=2
#        TOOLS="ninja make task floor shipgate"   (subset/order of tools to run;
#        floor = a minimal C posix_spawn + poll loop spawning the same N shells,
#        bench/floor/spawn-floor.c; subprocess = swift-subprocess alone doing the same,
#        bench/spawn-floor, not run unless named)
#        SHIPGATE=path (default .build/release/shipgate, built if missing)
#        TIMEOUT=600 (seconds per tool run)  NO_INSTALL=1 (never install)
#        VERIFY=1 (count the /bin/sh processes each tool spawns, via strace)
#        OUT_DIR=bench/out
set -euo pipefail
export LC_ALL=C

log()  { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/.." && pwd))
cd "$ROOT"

# ---------------------------------------------------------------- settings
SHAPES=${SHAPES:-"wide chain"}
REPEAT=${REPEAT:-3}
WARMUP=${WARMUP:-1}
PARALLEL=${PARALLEL:-2}
TOOLS=${TOOLS:-"ninja make task floor shipgate"}
TIMEOUT=${TIMEOUT:-600}
VERIFY=${VERIFY:-0}
NO_INSTALL=${NO_INSTALL:-0}
OUT_DIR=${OUT_DIR:-$ROOT/bench/out}

NS=("$@")
[[ ${#NS[@]} -gt 0 ]] || NS=(1000)
for n in "${NS[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$n' (usage: bench/run.sh [N ...])"
done
for s in $SHAPES; do
  [[ $s == wide || $s == chain ]] || die "unknown shape '$s' in SHAPES (allowed: wide chain)"
done
for v in REPEAT PARALLEL TIMEOUT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer, got '$WARMUP'"
for t in $TOOLS; do
  case $t in ninja|make|task|floor|subprocess|shipgate) ;; *) die "unknown tool '$t' in TOOLS (allowed: ninja make task floor subprocess shipgate)";; esac
done
want() { [[ " $TOOLS " == *" $1 "* ]]; }

# A parent make must not leak its jobserver/flags into the make we measure.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES || true

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shipgate-bench.XXXXXX")
cleanup() { rm -rf "$TMP"; }
CHILD=""   # pid of the running `timeout` (it leads its own process group)
on_signal() {
  if [[ -n $CHILD ]]; then kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null || true; fi
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# ---------------------------------------------------------------- installs
APT_UPDATED=0
apt_install() {  # apt_install PKG... ; returns non-zero if it cannot
  [[ $NO_INSTALL == 1 ]] && return 1
  command -v apt-get >/dev/null 2>&1 || return 1
  local sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || return 1
    sudo=(sudo -n)
  fi
  if [[ $APT_UPDATED == 0 ]]; then
    log "apt-get update"
    "${sudo[@]}" apt-get update -qq >"$TMP/apt.log" 2>&1 || { tail -n 5 "$TMP/apt.log" >&2; return 1; }
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" \
    >"$TMP/apt.log" 2>&1 || { tail -n 5 "$TMP/apt.log" >&2; return 1; }
}

# Path of the real executable: version-manager shims (pyenv, …) are shell
# scripts that would add ~100 ms to every measured run.
resolve_bin() {
  local p real
  p=$(command -v "$1" 2>/dev/null) || return 1
  [[ -f $p ]] || return 1
  if [[ $(head -c2 "$p" 2>/dev/null) == '#!' ]] && command -v pyenv >/dev/null 2>&1; then
    real=$(pyenv which "$1" 2>/dev/null) && [[ -x $real ]] && p=$real
  fi
  printf '%s\n' "$p"
}

command -v python3 >/dev/null 2>&1 || apt_install python3 || die "python3 is required (bench/gen.py)"
[[ -x /usr/bin/time ]] || apt_install time || die "/usr/bin/time (Debian package 'time') is required"
command -v timeout >/dev/null 2>&1 || die "'timeout' (coreutils) is required"

declare -A BIN=() VERSION=()

if want ninja; then
  command -v ninja >/dev/null 2>&1 || apt_install ninja-build || true
  if BIN[ninja]=$(resolve_bin ninja); then
    VERSION[ninja]=$("${BIN[ninja]}" --version 2>/dev/null || echo '?')
  else
    warn "ninja is not installed and could not be installed (apt-get install ninja-build); skipping it — ratios vs ninja will be n/a"
    unset 'BIN[ninja]'
  fi
fi

if want make; then
  command -v make >/dev/null 2>&1 || apt_install make || true
  if BIN[make]=$(resolve_bin make); then
    VERSION[make]=$("${BIN[make]}" --version 2>/dev/null | head -n1 || echo '?')
  else
    warn "make is not installed and could not be installed; skipping it"
    unset 'BIN[make]'
  fi
fi

if want task; then
  task_bin=""
  # (another `task`, e.g. Taskwarrior, may be on PATH: go-task's help names Taskfiles)
  is_go_task() { [[ -x $1 && $("$1" --help 2>&1 || true) == *[Tt]askfile* ]]; }
  if task_bin=$(resolve_bin task) && is_go_task "$task_bin"; then
    :
  elif is_go_task "$OUT_DIR/.venv/bin/task"; then
    task_bin=$OUT_DIR/.venv/bin/task
  elif [[ $NO_INSTALL != 1 ]]; then
    task_bin=""
    log "go-task not found: pip install go-task-bin"
    if python3 -m pip install --quiet go-task-bin >"$TMP/pip.log" 2>&1; then
      scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
      userbin=$(python3 -c 'import site; print(site.getuserbase() + "/bin")' 2>/dev/null || true)
      for c in "$scripts/task" "$userbin/task"; do [[ -x $c ]] && { task_bin=$c; break; }; done
      [[ -n $task_bin ]] || task_bin=$(resolve_bin task || true)
    else
      # e.g. an "externally managed" system python: use a private venv instead
      log "pip install failed ($(tail -n1 "$TMP/pip.log")); trying a venv in $OUT_DIR/.venv"
      mkdir -p "$OUT_DIR"
      if python3 -m venv "$OUT_DIR/.venv" >"$TMP/pip.log" 2>&1 &&
         "$OUT_DIR/.venv/bin/python" -m pip install --quiet go-task-bin >>"$TMP/pip.log" 2>&1; then
        task_bin=$OUT_DIR/.venv/bin/task
      fi
    fi
  fi
  if [[ -n $task_bin ]] && is_go_task "$task_bin"; then
    BIN[task]=$task_bin
    VERSION[task]=$("$task_bin" --version 2>/dev/null | head -n1 || echo '?')
  else
    warn "go-task (task) is unavailable (pip install go-task-bin failed or NO_INSTALL=1); skipping it"
  fi
fi

if want shipgate; then
  if [[ -z ${SHIPGATE:-} ]]; then
    SHIPGATE=$ROOT/.build/release/shipgate
    if [[ ! -x $SHIPGATE ]]; then
      log "shipgate binary not found at .build/release/shipgate — building it: swift build -c release --product shipgate"
      command -v swift >/dev/null 2>&1 || die "swift is not on PATH; build shipgate first or set SHIPGATE=/path/to/shipgate"
      swift build -c release --product shipgate || die "swift build -c release --product shipgate failed"
      [[ -x $SHIPGATE ]] || die "build finished but $SHIPGATE does not exist"
    fi
  else
    if [[ $SHIPGATE != */* ]]; then
      SHIPGATE=$(command -v "$SHIPGATE") || die "SHIPGATE='${SHIPGATE}' is not on PATH"
    fi
    [[ $SHIPGATE == /* ]] || SHIPGATE=$ROOT/$SHIPGATE
    [[ -x $SHIPGATE && -f $SHIPGATE ]] || die "SHIPGATE=$SHIPGATE is not an executable file"
  fi
  BIN[shipgate]=$SHIPGATE
  VERSION[shipgate]='?'
  if v=$(timeout 10 "$SHIPGATE" --version 2>/dev/null </dev/null) && [[ -n $v ]]; then
    VERSION[shipgate]=${v%%$'\n'*}
  fi
fi

if want floor; then
  FLOOR_BIN=$TMP/spawn-floor
  if command -v cc >/dev/null 2>&1 && cc -O2 -o "$FLOOR_BIN" "$ROOT/bench/floor/spawn-floor.c" >&2; then
    BIN[floor]=$FLOOR_BIN; VERSION[floor]="posix_spawn+poll (C)"
  else
    warn "could not compile bench/floor/spawn-floor.c (is a C compiler installed?); skipping the floor"
  fi
fi

if want subprocess; then
  SUBPROCESS_BIN=$ROOT/bench/spawn-floor/.build/release/spawn-floor
  if [[ ! -x $SUBPROCESS_BIN ]]; then
    log "building the swift-subprocess floor: swift build -c release --package-path bench/spawn-floor"
    if command -v swift >/dev/null 2>&1 && swift build -c release --package-path "$ROOT/bench/spawn-floor" >&2; then :; else
      warn "could not build bench/spawn-floor; skipping it"
    fi
  fi
  if [[ -x $SUBPROCESS_BIN ]]; then BIN[subprocess]=$SUBPROCESS_BIN; VERSION[subprocess]="swift-subprocess"; fi
fi

ACTIVE=()
for t in $TOOLS; do [[ -n ${BIN[$t]:-} ]] && ACTIVE+=("$t"); done
[[ ${#ACTIVE[@]} -gt 0 ]] || die "no tool to benchmark"

if [[ $VERIFY == 1 ]] && ! command -v strace >/dev/null 2>&1; then
  apt_install strace || { warn "strace unavailable; VERIFY=1 ignored"; VERIFY=0; }
fi

# ---------------------------------------------------------------- measuring
# Command line of TOOL for the scenario in DIR (state dir for shipgate: $3).
tool_cmd() {  # tool_cmd TOOL DIR [STATE_DIR] -> sets CMD=( ... )
  case $1 in
    ninja)    CMD=("${BIN[ninja]}" -f build.ninja -j "$PARALLEL") ;;
    make)     CMD=("${BIN[make]}" -f Makefile -j "$PARALLEL" all) ;;
    task)     CMD=("${BIN[task]}" --taskfile Taskfile.yml --concurrency "$PARALLEL" --silent all) ;;
    shipgate) CMD=("${BIN[shipgate]}" run "$2/pipeline.yml" --jobs "$PARALLEL" --output plain --state-dir "${3:-STATE_DIR}") ;;
    floor|subprocess)  # a chain runs one job at a time, so its floor spawns one at a time
              local n; n=$(grep -c '^  j[0-9]' "$2/pipeline.yml")
              CMD=("${BIN[$1]}" "$n" "$([[ $2 == *chain* ]] && echo 1 || echo "$PARALLEL")") ;;
  esac
}

usec() { local t=${EPOCHREALTIME/./}; printf '%s\n' "$((10#$t))"; }

# Runs TOOL once in DIR. On success sets WALL_S, RSS_KB, CPU_S and returns 0; on
# failure prints the error with the tool's output tail and returns 1.
run_once() {  # run_once TOOL DIR
  local tool=$1 dir=$2 state="" rc=0 t0 t1
  rm -f "$dir/.ninja_log" "$dir/.ninja_deps"     # every ninja run starts fresh
  if [[ $tool == shipgate ]]; then state=$(mktemp -d "$TMP/state.XXXXXX"); fi
  tool_cmd "$tool" "$dir" "$state"
  cd "$dir"
  t0=$(usec)
  # In the background + wait, so that ^C interrupts at once (timeout puts the
  # tool in a process group of its own, out of reach of the terminal's ^C).
  timeout -k 5 "$TIMEOUT" /usr/bin/time -f '%e %M %U %S' -o "$TMP/time.txt" "${CMD[@]}" \
    >"$TMP/stdout.txt" 2>"$TMP/stderr.txt" </dev/null &
  CHILD=$!
  wait "$CHILD" || rc=$?
  t1=$(usec)
  CHILD=""
  cd "$ROOT"
  [[ -n $state ]] && rm -rf "$state"
  if [[ $rc != 0 ]]; then
    {
      if [[ $rc == 124 || $rc == 137 ]]; then
        printf 'error: %s timed out after %ss\n' "$tool" "$TIMEOUT"
      else
        printf 'error: %s exited with status %s\n' "$tool" "$rc"
      fi
      printf '  command: (cd %s && %s)\n' "$dir" "${CMD[*]}"
      printf '  --- stderr (last 20 lines) ---\n'; tail -n 20 "$TMP/stderr.txt" | sed 's/^/  | /'
      printf '  --- stdout (last 5 lines) ---\n';  tail -n 5 "$TMP/stdout.txt" | sed 's/^/  | /'
    } >&2
    return 1
  fi
  WALL_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e6 }')
  # last line of time's output: "%e %M %U %S" (peak RSS of the largest
  # process in the tree, in KB; user+sys CPU of the tool and all its children)
  read -r RSS_KB CPU_S < <(awk 'NF >= 4 { r = $2; c = $3 + $4 } END { printf "%d %.2f\n", r, c }' "$TMP/time.txt")
  return 0
}

# VERIFY=1: count the /bin/sh processes one run of TOOL starts.
verify_spawns() {  # verify_spawns TOOL DIR N
  local tool=$1 dir=$2 n=$3 state="" sh_count total
  rm -f "$dir/.ninja_log" "$dir/.ninja_deps"
  if [[ $tool == shipgate ]]; then state=$(mktemp -d "$TMP/state.XXXXXX"); fi
  tool_cmd "$tool" "$dir" "$state"
  (cd "$dir" && timeout -k 5 "$TIMEOUT" strace -f -qq -e trace=execve -o "$TMP/strace.txt" "${CMD[@]}" \
     >/dev/null 2>&1 </dev/null) || { warn "VERIFY: $tool failed under strace"; [[ -n $state ]] && rm -rf "$state"; return 0; }
  [[ -n $state ]] && rm -rf "$state"
  sh_count=$(grep -c 'execve("/bin/sh"' "$TMP/strace.txt" || true)
  total=$(grep -c 'execve(' "$TMP/strace.txt" || true)
  printf '   verify %-8s /bin/sh execs: %s (expected %s), all execve: %s%s\n' "$tool" "$sh_count" "$n" "$total" \
    "$([[ $sh_count == "$n" ]] || echo '  <-- MISMATCH')" >&2
}

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT_DIR"
JSONL=$OUT_DIR/results-$STAMP.jsonl
RAW=$TMP/raw.tsv
: >"$RAW"
printf 'tool\tbin\tversion\n' >"$TMP/tools.tsv"
for t in "${ACTIVE[@]}"; do printf '%s\t%s\t%s\n' "$t" "${BIN[$t]}" "${VERSION[$t]}" >>"$TMP/tools.tsv"; done

# Share of all cores (and of stolen time, on a VM) busy during one idle second.
cpu_busy() {
  local a b
  a=$(head -n1 /proc/stat 2>/dev/null) || { echo '? ?'; return; }
  sleep 1
  b=$(head -n1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {
    na = split(a, x); split(b, y); tot = 0
    for (i = 2; i <= na; i++) tot += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6]); steal = (na >= 9) ? y[9] - x[9] : 0
    if (tot <= 0) { print "? ?"; exit }
    printf "%.0f %.0f\n", 100 * (tot - idle - steal) / tot, 100 * steal / tot }'
}
check_busy() {  # check_busy WHEN -> sets BUSY STEAL
  read -r BUSY STEAL < <(cpu_busy)
  if [[ $BUSY != '?' ]] && (( BUSY >= 20 || STEAL >= 5 )); then
    warn "$1: the CPUs were ${BUSY}% busy (${STEAL}% stolen by the host) without the benchmark running: other work will inflate and scatter wall times (CPU seconds are less affected)"
  fi
}

read -r LOAD1 _ </proc/loadavg || LOAD1='?'
NPROC=$(nproc 2>/dev/null || echo '?')
check_busy "before the run"; BUSY_BEFORE=$BUSY; STEAL_BEFORE=$STEAL
log "tools: $(for t in "${ACTIVE[@]}"; do printf '%s=%s (%s)  ' "$t" "${BIN[$t]}" "${VERSION[$t]}"; done)"
log "N: ${NS[*]}; shapes: $SHAPES; repeats: $REPEAT (+$WARMUP warm-up); parallelism: $PARALLEL; cores: $NPROC; load average: $LOAD1; CPU busy: ${BUSY_BEFORE}% (steal ${STEAL_BEFORE}%)"

FAILED=0
for n in "${NS[@]}"; do
  for shape in $SHAPES; do
    dir=$TMP/$shape-$n
    python3 "$HERE/gen.py" --jobs "$n" --shape "$shape" --out "$dir" || die "bench/gen.py failed for $shape N=$n"
    log "scenario $shape N=$n ($dir)"
    declare -A dead=()
    for t in "${ACTIVE[@]}"; do
      tool_cmd "$t" "$dir" '$STATE_DIR'
      shown=${CMD[*]}; shown=${shown//"$dir"/'$SCENARIO'}
      printf '   %-8s (cd $SCENARIO && %s)\n' "$t" "$shown" >&2
      printf '%s\t%s\t%s\t%s\n' "$shape" "$n" "$t" "$shown" >>"$TMP/cmds.tsv"
      [[ $VERIFY == 1 ]] && verify_spawns "$t" "$dir" "$n"
      for ((w = 0; w < WARMUP; w++)); do
        if ! run_once "$t" "$dir"; then
          dead[$t]=1; FAILED=1
          printf '%s\t%s\t%s\twarmup\tFAILED\t0\t0\n' "$shape" "$n" "$t" >>"$RAW"
          break
        fi
      done
    done
    # Repeats are interleaved across tools so slow drifts hit all of them.
    for ((r = 1; r <= REPEAT; r++)); do
      for t in "${ACTIVE[@]}"; do
        [[ -n ${dead[$t]:-} ]] && continue
        if run_once "$t" "$dir"; then
          printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$shape" "$n" "$t" "$r" "$WALL_S" "$RSS_KB" "$CPU_S" >>"$RAW"
          printf '   %-8s run %d/%d: %8.3f s wall  %6.2f s CPU  %7.1f MB\n' "$t" "$r" "$REPEAT" "$WALL_S" "$CPU_S" \
            "$(awk -v k="$RSS_KB" 'BEGIN { print k / 1024 }')" >&2
        else
          dead[$t]=1; FAILED=1
          printf '%s\t%s\t%s\t%s\tFAILED\t0\t0\n' "$shape" "$n" "$t" "$r" >>"$RAW"
        fi
      done
    done
    unset dead
    rm -rf "$dir"
  done
done

check_busy "after the run"; BUSY_AFTER=$BUSY

python3 "$HERE/report.py" --raw "$RAW" --tools "$TMP/tools.tsv" --cmds "$TMP/cmds.tsv" \
  --jsonl "$JSONL" --stamp "$STAMP" --parallel "$PARALLEL" --repeat "$REPEAT" \
  --load "$LOAD1" --nproc "$NPROC" --busy "$BUSY_BEFORE,$BUSY_AFTER"
log "results written to ${JSONL#"$ROOT"/}"

if [[ $FAILED != 0 ]]; then
  die "at least one tool failed (see the errors above); its rows are marked FAILED"
fi
