#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine, for tests and for trying the profile.
#
#   .ci/slurm/start.sh [STATE_DIR]
#   .ci/slurm/stop.sh  [STATE_DIR]
#
# Built from Debian's packages (apt-get install slurm-wlm slurmdbd munge mariadb-server), without
# systemd: it generates the configuration for this host (`hostname -s`) under STATE_DIR (default
# ${TMPDIR:-/tmp}/ferattention-slurm) and starts munged, mariadbd, slurmdbd, slurmctld and slurmd
# in that order, each after the previous one answers. Accounting goes through slurmdbd into
# MariaDB, as on real clusters, so `sacct` (the executor plugin's job status check) works. The
# daemons use free TCP ports on 127.0.0.1 and keep sockets, PID files, data and logs under
# STATE_DIR (logs in STATE_DIR/log). The cluster has one partition, `debug`, and one account,
# `ferattention` (user root's default). The node declares at least 8 CPUs so that every rule's
# thread request fits on a small machine (jobs may then share cores).
#
# The one file outside STATE_DIR: /etc/slurm/slurm.conf becomes a link to the generated slurm.conf
# (stop.sh removes it). SLURM commands inside jobs need it there: the executor plugin's job step
# drops SLURM_CONF from the environment of its `srun`. The script refuses to run where a slurm.conf
# of another cluster exists. Must run as root (slurmd starts jobs; munged and mariadbd run as root).
# If a step fails, it stops what it had started (stop.sh) and keeps the logs.
set -euo pipefail

STATE=${1:-${TMPDIR:-/tmp}/ferattention-slurm}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
LOG="$STATE/log"
HOST=$(hostname -s)
SLURM_CLUSTER=ferattention
ACCOUNT=ferattention
PARTITION=debug
export SLURM_CONF="$STATE/slurm.conf"

die() { echo "start.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (slurmd launches jobs; munged and mariadbd run as root)"
for cmd in munged munge unmunge mariadbd mariadb-install-db mariadb slurmdbd slurmctld slurmd \
           sacctmgr scontrol sinfo; do
  command -v "$cmd" >/dev/null \
    || die "'$cmd' not found: apt-get install -y slurm-wlm slurmdbd munge mariadb-server"
done
if [ -f "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
  die "a cluster already runs from $STATE (stop it with .ci/slurm/stop.sh $STATE)"
fi
ETC_CONF=/etc/slurm/slurm.conf
# It may only be our own link, or a dangling link left by a test cluster that was not stopped.
if [ -e "$ETC_CONF" ] && [ "$(readlink "$ETC_CONF")" != "$SLURM_CONF" ]; then
  die "$ETC_CONF exists ($(readlink -f "$ETC_CONF")): this machine belongs to another SLURM cluster"
fi

# Wait until a readiness check passes: wait_for SECONDS WHAT LOGFILE COMMAND...
wait_for() {
  local seconds=$1 what=$2 logfile=$3; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "start.sh: $what did not become ready in ${seconds}s; last lines of $logfile:" >&2
      tail -n 20 "$logfile" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  echo "start.sh: $what ready"
}

# On failure, stop what has started (the logs stay).
started=0
trap '[ $started = 1 ] || "$(dirname "$0")/stop.sh" "$STATE" >/dev/null 2>&1 || true' EXIT

# Fresh state every start: the cluster is disposable.
rm -rf "$STATE"/{munge,mysql,ctld,slurmd,log} "$STATE"/*.pid "$STATE"/*.conf
mkdir -p "$STATE"/{munge,ctld,slurmd} "$LOG"
chmod 755 "$STATE/munge"  # clients need to reach the socket; the key stays 0400

# Five free ports: MariaDB, slurmdbd, slurmctld, slurmd, srun.
read -r DB_PORT DBD_PORT CTLD_PORT SLURMD_PORT SRUN_PORT < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)

# munge: a fresh key, our own socket.
MUNGE_SOCKET="$STATE/munge/munge.socket"
dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$STATE/munge/munge.key"
munged --force --key-file="$STATE/munge/munge.key" --socket="$MUNGE_SOCKET" \
  --pid-file="$STATE/munged.pid" --log-file="$LOG/munged.log" --seed-file="$STATE/munge/seed" \
  </dev/null >>"$LOG/munged.log" 2>&1
munge_ok() { munge -n -S "$MUNGE_SOCKET" | unmunge -S "$MUNGE_SOCKET"; }
wait_for 10 munged "$LOG/munged.log" munge_ok

# MariaDB: a private data directory; slurmdbd connects over TCP as user slurm.
DB_SOCKET="$STATE/mysql.sock"
DB_PASS=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
mariadb-install-db --no-defaults --user=root --datadir="$STATE/mysql" \
  --auth-root-authentication-method=socket --skip-test-db >"$LOG/mariadb-install.log" 2>&1 \
  || { tail -n 20 "$LOG/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
nohup mariadbd --no-defaults --user=root --datadir="$STATE/mysql" --socket="$DB_SOCKET" \
  --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$STATE/mariadbd.pid" \
  --log-error="$LOG/mariadb.log" --innodb-buffer-pool-size=64M --skip-name-resolve \
  </dev/null >>"$LOG/mariadb.log" 2>&1 &
wait_for 30 mariadbd "$LOG/mariadb.log" mariadb-admin --no-defaults -S "$DB_SOCKET" -u root ping
mariadb --no-defaults -S "$DB_SOCKET" -u root <<EOF
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF

cat >"$STATE/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=$HOST
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
PidFile=$STATE/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
DebugLevel=info
EOF
chmod 600 "$STATE/slurmdbd.conf"

CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
cat >"$SLURM_CONF" <<EOF
# Generated by .ci/slurm/start.sh for host $HOST; removed by stop.sh.
ClusterName=$SLURM_CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SrunPortRange=$SRUN_PORT-$SRUN_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# With accounting_storage/slurmdbd this names the munge socket for talking to slurmdbd.
AccountingStoragePass=$MUNGE_SOCKET
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
InactiveLimit=0
KillWait=5
MinJobAge=300
Waittime=0
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(( CPUS > 8 ? CPUS : 8 )) RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
mkdir -p /etc/slurm
ln -sfn "$SLURM_CONF" "$ETC_CONF"

# slurmdbd reads slurmdbd.conf from the directory of $SLURM_CONF.
slurmdbd </dev/null >>"$LOG/slurmdbd.log" 2>&1 \
  || die "slurmdbd failed to start (see $LOG/slurmdbd.log)"
wait_for 30 slurmdbd "$LOG/slurmdbd.log" sacctmgr -n list cluster
# Cluster, account and user before slurmctld starts, so that it loads the associations.
sacctmgr -i add cluster "$SLURM_CLUSTER" >/dev/null
sacctmgr -i add account "$ACCOUNT" Cluster="$SLURM_CLUSTER" Description="test account" \
  Organization=ferattention >/dev/null
sacctmgr -i add user root Account="$ACCOUNT" DefaultAccount="$ACCOUNT" >/dev/null

slurmctld -f "$SLURM_CONF" </dev/null >>"$LOG/slurmctld.log" 2>&1 \
  || die "slurmctld failed to start (see $LOG/slurmctld.log)"
wait_for 30 slurmctld "$LOG/slurmctld.log" scontrol ping
slurmd -f "$SLURM_CONF" </dev/null >>"$LOG/slurmd.log" 2>&1 \
  || die "slurmd failed to start (see $LOG/slurmd.log)"
node_idle() { sinfo -h -n "$HOST" -o %t | grep -qx idle; }
wait_for 30 slurmd "$LOG/slurmd.log" node_idle

started=1
echo "start.sh: SLURM cluster '$SLURM_CLUSTER' up on $HOST (partition $PARTITION," \
  "account $ACCOUNT; state in $STATE)"
