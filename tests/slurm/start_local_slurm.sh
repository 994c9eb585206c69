#!/usr/bin/env bash
# Start a private single-node SLURM cluster (munged, MariaDB, slurmdbd, slurmctld,
# slurmd) for integration tests of the Snakemake SLURM profile.
#
#   bash tests/slurm/start_local_slurm.sh [STATE_DIR]
#   source STATE_DIR/env.sh          # exports SLURM_CONF; then sbatch/squeue/sacct/srun work
#   bash tests/slurm/stop_local_slurm.sh [STATE_DIR]
#
# STATE_DIR defaults to $ROBINTERP_SLURM_DIR, else /tmp/robinterp-slurm. Configs, keys,
# spool and state directories, logs, the MariaDB data directory and the PID files all
# live there. Outside it, the script only installs the Debian packages when they are
# missing and points the link /run/slurm/conf at STATE_DIR (see below why). Job IDs and
# accounting history survive a stop/start; `rm -rf STATE_DIR` (with the cluster
# stopped) gives a fresh cluster. Must run as root (all daemons run as root).
#
# The node is declared larger than the machine (16 CPUs, 128 GiB, two fake GPUs) so that
# the requests of slurm/config.yaml (up to 16 cpus, 64000 MB, 2880 min, gpu: 1) are
# accepted unchanged and two GPU jobs run side by side; jobs simply share the real cores.
#
# Ports (override through the environment if they are taken): slurmctld 6817,
# slurmd 6818, slurmdbd 6819, MariaDB 3307 (all bound to 127.0.0.1 where the daemon
# allows it).
set -euo pipefail

STATE_DIR=${1:-${ROBINTERP_SLURM_DIR:-/tmp/robinterp-slurm}}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

SLURMCTLD_PORT=${ROBINTERP_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${ROBINTERP_SLURMD_PORT:-6818}
SLURMDBD_PORT=${ROBINTERP_SLURMDBD_PORT:-6819}
MYSQL_PORT=${ROBINTERP_SLURM_MYSQL_PORT:-3307}
READY_TIMEOUT=${ROBINTERP_SLURM_TIMEOUT:-60}   # seconds per daemon to come up

NODE=$(hostname -s)
CLUSTER=robinterp

log() { echo "[start_local_slurm] $*" >&2; }
die() { echo "[start_local_slurm] ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------
# Packages. Debian 12 ships SLURM 22.05; the package scripts start no daemons in a
# container without systemd, which is what we want: we start our own below.
# ---------------------------------------------------------------------------------
need_bins=(munged mungekey slurmctld slurmd slurmdbd sbatch srun squeue sacct sacctmgr
           scontrol sinfo mariadbd mariadb-install-db mariadb)
missing=()
for b in "${need_bins[@]}"; do
    # sbin is not on a normal user's PATH on Debian.
    command -v "$b" >/dev/null 2>&1 || [[ -x /usr/sbin/$b ]] || missing+=("$b")
done
pkgs=(munge slurmctld slurmd slurmdbd slurm-client mariadb-server)
if [[ $(id -u) -ne 0 ]]; then
    ((${#missing[@]} == 0)) || die "missing programs: ${missing[*]}; install them as root with:
    apt-get install -y ${pkgs[*]}"
    die "the daemons run as root (SlurmUser=root); run this script as root"
fi

# Absolute path: it is written into configs read by daemons running elsewhere.
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd -P)

if ((${#missing[@]})); then
    log "installing ${pkgs[*]} (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    # Only refresh the package lists when the plain install fails (saves ~10 s).
    if ! apt-get install -y -q "${pkgs[@]}" >"$STATE_DIR/apt.log" 2>&1; then
        apt-get update -q >>"$STATE_DIR/apt.log" 2>&1 || true
        apt-get install -y -q "${pkgs[@]}" >>"$STATE_DIR/apt.log" 2>&1 ||
            { tail -n 30 "$STATE_DIR/apt.log" >&2; die "apt-get install failed"; }
    fi
fi
export PATH=$PATH:/usr/sbin:/sbin

# ---------------------------------------------------------------------------------
# A cluster from an earlier run of this STATE_DIR may still be running: stop it first,
# by the PIDs it recorded (never by process name, other clusters may be running).
# ---------------------------------------------------------------------------------
if compgen -G "$STATE_DIR/pids/*.pid" >/dev/null; then
    log "stopping the cluster still recorded in $STATE_DIR"
    bash "$HERE/stop_local_slurm.sh" "$STATE_DIR"
fi

# Unix sockets are limited to 107 bytes; munged's socket is the longest path we create.
((${#STATE_DIR} < 80)) || die "STATE_DIR path too long for unix sockets: $STATE_DIR"

for port in "$SLURMCTLD_PORT" "$SLURMD_PORT" "$SLURMDBD_PORT" "$MYSQL_PORT"; do
    # /dev/tcp connect succeeds only when something already listens there.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port on 127.0.0.1 is already in use (another SLURM or MariaDB?); set the
    ROBINTERP_SLURMCTLD_PORT/ROBINTERP_SLURMD_PORT/ROBINTERP_SLURMDBD_PORT/ROBINTERP_SLURM_MYSQL_PORT variables"
    fi
done

# ---------------------------------------------------------------------------------
# Directory layout. munged insists that every directory above its socket is
# executable by all, and that its key directory is writable only by its owner.
# ---------------------------------------------------------------------------------
chmod 755 "$STATE_DIR"
mkdir -p "$STATE_DIR"/{run,log,pids,dev,spool/slurmd,state,munge,mysql}
chmod 755 "$STATE_DIR"/{run,log,pids,dev,spool,spool/slurmd}
chmod 700 "$STATE_DIR"/{munge,state,mysql}
rm -f "$STATE_DIR"/run/* "$STATE_DIR"/pids/*

# Whatever fails from here on (a daemon not coming up, sacctmgr, a typo), stop the
# daemons already started instead of leaving a half cluster behind.
started_ok=0
cleanup_on_failure() {
    if ((started_ok == 0)); then
        log "start failed; stopping the daemons started so far (logs in $STATE_DIR/log)"
        bash "$HERE/stop_local_slurm.sh" "$STATE_DIR" || true
    fi
}
trap cleanup_on_failure EXIT

MUNGE_SOCKET=$STATE_DIR/run/munge.socket
MYSQL_SOCKET=$STATE_DIR/run/mysqld.sock
SLURM_CONF=$STATE_DIR/slurm.conf
export SLURM_CONF

# ---------------------------------------------------------------------------------
# Daemon launcher: every daemon runs in the foreground (-F/-D) in its own session, so
# the PID we record is the daemon itself (this script has no job control, so its
# background children are no process-group leaders and setsid execs without forking),
# its stderr lands in log/NAME.out, and it does not die with the shell that started
# it. The stop script signals exactly these PIDs.
# ---------------------------------------------------------------------------------
start_daemon() {
    local name=$1 prog=$2
    shift
    log "starting $name"
    setsid "$@" </dev/null >>"$STATE_DIR/log/$name.out" 2>&1 &
    echo $! >"$STATE_DIR/pids/$name.pid"
    # The executable, for the stop script to check that a recorded PID is still ours
    # (Debian's slurmctld/slurmd are alternatives links to *-wlm binaries).
    readlink -f "$(command -v "$prog")" >"$STATE_DIR/pids/$name.exe"
}

show_logs() {
    local f
    for f in "$STATE_DIR/log/$1.out" "$STATE_DIR/log/$1.log"; do
        [[ -s $f ]] || continue
        echo "----- tail of $f -----" >&2
        tail -n 30 "$f" >&2 || true
    done
    echo "-----" >&2
}

# Wait until "$@" succeeds; on timeout show the daemon's log and give up.
wait_for() {
    local name=$1 what=$2; shift 2
    local pid deadline=$((SECONDS + READY_TIMEOUT))
    pid=$(cat "$STATE_DIR/pids/$name.pid")
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            show_logs "$name"
            if kill -0 "$pid" 2>/dev/null; then
                log "$name (pid $pid) did not get $what within ${READY_TIMEOUT}s"
            else
                log "$name exited before getting $what"
            fi
            exit 1   # the EXIT trap stops what was started
        fi
        sleep 0.3
    done
}

# ---------------------------------------------------------------------------------
# munge: a private key and socket. SLURM's auth/munge and cred/munge plugins find the
# socket through AuthInfo=socket=... (slurm.conf and slurmdbd.conf), and through
# AccountingStoragePass for connections to slurmdbd (sacct, sacctmgr, slurmctld), so
# clients need nothing but SLURM_CONF.
# ---------------------------------------------------------------------------------
if [[ ! -s $STATE_DIR/munge/munge.key ]]; then
    mungekey --create --keyfile="$STATE_DIR/munge/munge.key"
fi
chmod 600 "$STATE_DIR/munge/munge.key"
start_daemon munged munged -F \
    --key-file="$STATE_DIR/munge/munge.key" \
    --socket="$MUNGE_SOCKET" \
    --pid-file="$STATE_DIR/run/munged.pid" \
    --seed-file="$STATE_DIR/munge/munged.seed" \
    --log-file="$STATE_DIR/log/munged.log"

# ---------------------------------------------------------------------------------
# MariaDB for slurmdbd: own datadir/socket/port, no system config (--no-defaults), run
# as root. slurmdbd connects over TCP to 127.0.0.1 as a dedicated user (root@localhost
# uses unix_socket authentication, which TCP cannot do); the user is (re)created by
# --init-file at every start, so the password in slurmdbd.conf is always valid.
# ---------------------------------------------------------------------------------
DB_PASS=robinterp-slurm-test
if [[ ! -d $STATE_DIR/mysql/data/mysql ]]; then
    log "initialising MariaDB in $STATE_DIR/mysql/data"
    rm -rf "$STATE_DIR/mysql/data"
    mariadb-install-db --no-defaults --user=root --datadir="$STATE_DIR/mysql/data" \
        --auth-root-authentication-method=socket --skip-test-db \
        >"$STATE_DIR/log/mariadb-install-db.log" 2>&1 ||
        { tail -n 30 "$STATE_DIR/log/mariadb-install-db.log" >&2; die "mariadb-install-db failed"; }
fi
cat >"$STATE_DIR/mysql/init.sql" <<EOF
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF
chmod 600 "$STATE_DIR/mysql/init.sql"
# These three are the minimum values slurmdbd checks for (it logs an error otherwise);
# the buffer pool is allocated lazily, so a test database stays small.
start_daemon mariadbd mariadbd --no-defaults --user=root \
    --datadir="$STATE_DIR/mysql/data" \
    --socket="$MYSQL_SOCKET" \
    --pid-file="$STATE_DIR/run/mariadbd.pid" \
    --port="$MYSQL_PORT" --bind-address=127.0.0.1 \
    --init-file="$STATE_DIR/mysql/init.sql" \
    --innodb-buffer-pool-size=512M --innodb-log-file-size=32M \
    --innodb-lock-wait-timeout=900 \
    --skip-name-resolve --log-error="$STATE_DIR/log/mariadbd.log"

# ---------------------------------------------------------------------------------
# SLURM configuration.
# ---------------------------------------------------------------------------------
# The node is declared at least as large as the requests of slurm/config.yaml
# (16 cpus, 64000 MB); SlurmdParameters=config_overrides stops slurmd from draining it
# because the real machine is smaller. One socket of CPUS cores keeps the topology
# consistent (CPUs = Sockets * Cores * Threads).
real_cpus=$(nproc)
real_mem=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)
CPUS=$((real_cpus > 16 ? real_cpus : 16))
MEM=$((real_mem > 131072 ? real_mem : 131072))

# Fake GPUs: gres/gpu only needs character devices to exist; these have /dev/null's
# major/minor. The trailing number in the name gives CUDA_VISIBLE_DEVICES. Where mknod is
# not allowed, a symlink to /dev/null does the same.
for gpu in gpu0 gpu1; do
    if [[ ! -c $STATE_DIR/dev/$gpu ]]; then
        rm -f "$STATE_DIR/dev/$gpu"
        mknod "$STATE_DIR/dev/$gpu" c 1 3 2>/dev/null || ln -s /dev/null "$STATE_DIR/dev/$gpu"
    fi
done

cat >"$SLURM_CONF" <<EOF
# Generated by tests/slurm/start_local_slurm.sh -- single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$SLURMCTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET

StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool/slurmd
SlurmctldPidFile=$STATE_DIR/run/slurmctld.pid
SlurmdPidFile=$STATE_DIR/run/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info

# No cgroups in a container: track processes through /proc, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30

# Allocate CPUs and memory per job so that jobs run side by side; without
# DefMemPerCPU a job without --mem would take the whole node.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=500
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
# Finished jobs stay visible to squeue/scontrol for 5 minutes; SIGKILL follows SIGTERM
# after 30 s (scancel, time limit).
MinJobAge=300
KillWait=30
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60

AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$SLURMDBD_PORT
# Connections to slurmdbd do not use AuthInfo: for them auth/munge takes the munge
# socket from AccountingStoragePass (documented for an inter-cluster munged).
AccountingStoragePass=$MUNGE_SOCKET
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
MailProg=/bin/true

GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$MEM Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE Default=NO MaxTime=INFINITE State=UP
EOF

cat >"$STATE_DIR/gres.conf" <<EOF
AutoDetect=off
NodeName=$NODE Name=gpu File=$STATE_DIR/dev/gpu[0-1]
EOF

# slurmdbd refuses a config readable by others or not owned by SlurmUser.
(
    umask 077
    cat >"$STATE_DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=$NODE
DbdAddr=127.0.0.1
DbdPort=$SLURMDBD_PORT
SlurmUser=root
PidFile=$STATE_DIR/run/slurmdbd.pid
LogFile=$STATE_DIR/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$MYSQL_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
)
chown root:root "$STATE_DIR/slurmdbd.conf"
chmod 600 "$STATE_DIR/slurmdbd.conf"

# Processes that lose SLURM_CONF still have to find this cluster: the Snakemake
# slurm-jobstep plugin (0.6) strips every SLURM_* variable except the job identity
# before it calls `srun` inside the job. Without SLURM_CONF, SLURM clients read
# /etc/slurm/slurm.conf if it exists, else /run/slurm/conf/slurm.conf (the cache of a
# "configless" slurmd). We point /run/slurm/conf at STATE_DIR -- the one path outside
# STATE_DIR that we create -- unless it is a real directory (a configless slurmd of a
# real cluster). The stop script removes the link again if it still points here.
RUN_CONF_LINK=/run/slurm/conf
if [[ -L $RUN_CONF_LINK || ! -e $RUN_CONF_LINK ]]; then
    old_target=$(readlink "$RUN_CONF_LINK" || true)
    [[ -z $old_target || $old_target == "$STATE_DIR" ]] ||
        log "note: $RUN_CONF_LINK pointed to $old_target; now points to $STATE_DIR"
    mkdir -p "$(dirname "$RUN_CONF_LINK")"
    ln -sfn "$STATE_DIR" "$RUN_CONF_LINK"
else
    log "WARNING: $RUN_CONF_LINK exists and is not a link; srun inside Snakemake jobs will not find this cluster"
fi
if [[ -e /etc/slurm/slurm.conf ]]; then
    log "WARNING: /etc/slurm/slurm.conf exists and takes precedence over $RUN_CONF_LINK:"
    log "         commands run without SLURM_CONF (srun inside Snakemake jobs) use that cluster"
fi

cat >"$STATE_DIR/env.sh" <<EOF
# Source this to use the test cluster started by tests/slurm/start_local_slurm.sh.
export SLURM_CONF=$SLURM_CONF
EOF

# ---------------------------------------------------------------------------------
# Start the SLURM daemons in dependency order, each once its predecessor answers.
# ---------------------------------------------------------------------------------
wait_for munged "its socket" test -S "$MUNGE_SOCKET"
wait_for mariadbd "its TCP port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$MYSQL_PORT"

# slurmdbd reads its config from the directory of slurm.conf (SLURM_CONF).
start_daemon slurmdbd slurmdbd -D
wait_for slurmdbd "its port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$SLURMDBD_PORT"

# slurmctld 22.05 adds its cluster to the database when it first registers; adding it
# here as well costs nothing and keeps older SLURM versions working (sacct, and the
# Snakemake plugin's `sacct --clusters all`, need the cluster to be known).
if ! sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
fi

start_daemon slurmctld slurmctld -D
wait_for slurmctld "to answer scontrol ping" bash -c "scontrol ping | grep -q UP"

start_daemon slurmd slurmd -D
# The node may come back as idle or (after a restart with jobs) mixed/allocated.
wait_for slurmd "its node idle in sinfo" \
    bash -c "sinfo -h -n $NODE -o %T | grep -Eq '^(idle|mixed|allocated)\$'"
wait_for slurmdbd "sacct to answer" sacct -n -X -S now

started_ok=1
log "cluster '$CLUSTER' is up (state in $STATE_DIR)"
sinfo >&2
echo "export SLURM_CONF=$SLURM_CONF"
