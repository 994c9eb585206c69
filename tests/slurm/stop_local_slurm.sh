#!/usr/bin/env bash
# Stop the test cluster started by tests/slurm/start_local_slurm.sh.
#
#   bash tests/slurm/stop_local_slurm.sh [STATE_DIR]
#
# STATE_DIR defaults to $ROBINTERP_SLURM_DIR, else /tmp/robinterp-slurm. Only the
# daemons whose PIDs the start script recorded in STATE_DIR/pids are signalled (never
# anything found by name: other clusters or a system SLURM may run on the machine).
# Jobs still running are cancelled through SLURM first, because their slurmstepd
# processes are not children of slurmd and would otherwise outlive it.
# STATE_DIR itself is kept (job IDs and accounting history survive a restart).
set -euo pipefail

STATE_DIR=${1:-${ROBINTERP_SLURM_DIR:-/tmp/robinterp-slurm}}
log() { echo "[stop_local_slurm] $*" >&2; }

if [[ ! -d $STATE_DIR/pids ]]; then
    log "nothing recorded in $STATE_DIR/pids; nothing to stop"
    exit 0
fi
STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
export SLURM_CONF=$STATE_DIR/slurm.conf
export PATH=$PATH:/usr/sbin:/sbin

# The recorded PID is ours only if it still runs the executable the start script
# recorded for it (a PID can be reused after a reboot or a crash).
alive_and_ours() {
    local pid=$1 name=$2 exe want
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    want=$(cat "$STATE_DIR/pids/$name.exe" 2>/dev/null) || return 1
    [[ ${exe% (deleted)} == "$want" ]]
}

pid_of() { cat "$STATE_DIR/pids/$1.pid" 2>/dev/null || true; }

# Cancel the jobs while slurmctld and slurmd still run, so that slurmstepd ends them
# (SIGTERM, then SIGKILL after KillWait) and they are recorded as CANCELLED.
if alive_and_ours "$(pid_of slurmctld)" slurmctld && [[ -r $SLURM_CONF ]]; then
    jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ' || true)
    if [[ -n ${jobs// /} ]]; then
        log "cancelling jobs: $jobs"
        # shellcheck disable=SC2086  # word splitting of the job list is intended
        scancel $jobs 2>/dev/null || true
        # KillWait is 30 s; give slurmstepd a little longer to finish.
        for _ in $(seq 1 80); do
            [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break
            sleep 0.5
        done
        [[ -z $(squeue -h -o %i 2>/dev/null) ]] ||
            log "warning: jobs still listed after cancelling: $(squeue -h -o %i | tr '\n' ' ')"
    fi
fi

# Reverse start order: slurmd and slurmctld before the accounting daemon (so the
# last job records reach it), the database after slurmdbd, munge last.
for name in slurmd slurmctld slurmdbd mariadbd munged; do
    pidfile=$STATE_DIR/pids/$name.pid
    [[ -f $pidfile ]] || continue
    pid=$(pid_of "$name")
    if alive_and_ours "$pid" "$name"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        # Daemons exit within a second or two; mariadbd flushes InnoDB first.
        for _ in $(seq 1 60); do
            alive_and_ours "$pid" "$name" || break
            sleep 0.25
        done
        if alive_and_ours "$pid" "$name"; then
            log "$name (pid $pid) ignored SIGTERM for 15 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    rm -f "$pidfile" "$STATE_DIR/pids/$name.exe"
done

# The start script linked /run/slurm/conf here; remove the link only if it is still
# ours (a later cluster from another STATE_DIR may have taken it over).
if [[ -L /run/slurm/conf && $(readlink /run/slurm/conf) == "$STATE_DIR" ]]; then
    rm -f /run/slurm/conf
fi

log "stopped (state kept in $STATE_DIR)"
