#!/usr/bin/env bash
# Stop the cluster started by .ci/slurm/start.sh [STATE_DIR]: its daemons by their PID files, in the
# reverse order of start, then remove the link /etc/slurm/slurm.conf and the generated state (the
# logs in STATE_DIR/log stay unless --purge).
#
#   .ci/slurm/stop.sh [STATE_DIR] [--purge]
set -uo pipefail

STATE=${TMPDIR:-/tmp}/ferattention-slurm
PURGE=0
for arg in "$@"; do
  case $arg in
    --purge) PURGE=1 ;;
    *) STATE=$arg ;;
  esac
done
[ -d "$STATE" ] || { echo "stop.sh: no cluster state in $STATE" >&2; exit 0; }
export SLURM_CONF="$STATE/slurm.conf"

# Cancel what is still queued or running, so that slurmd leaves no job processes behind.
if [ -f "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
  scancel --full --user=root >/dev/null 2>&1 || true
fi

# stop NAME...: TERM to each daemon by its PID file, wait up to 15 s for all of them, then KILL.
# Daemons in one call stop together; the calls go in the reverse order of start.
stop() {
  local name pid pids=() names=()
  for name in "$@"; do
    pid=$(cat "$STATE/$name.pid" 2>/dev/null) || continue
    rm -f "$STATE/$name.pid"
    if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then pids+=("$pid"); names+=("$name"); fi
  done
  for _ in $(seq 300); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.05
  done
  for i in "${!pids[@]}"; do
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "stop.sh: ${names[$i]} (${pids[$i]}) ignored TERM; killing it" >&2
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
    echo "stop.sh: ${names[$i]} stopped"
  done
}

stop slurmd slurmctld
stop slurmdbd
stop mariadbd munged

if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$STATE/slurm.conf" ]; then
  rm -f /etc/slurm/slurm.conf
fi
rm -rf "$STATE"/{munge,mysql,ctld,slurmd} "$STATE"/*.conf "$STATE"/mysql.sock
if [ "$PURGE" = 1 ]; then
  rm -rf "$STATE"
fi
