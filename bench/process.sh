# Shared by the bench scripts (sourced): stopping the processes they start.

stop_pid() { # pid: TERM, wait up to 5 s, then KILL; an empty or finished pid is fine
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# stop_all_and_clean: the EXIT trap of a script that starts processes (their pids in the array PIDS) and works in a
# temporary directory (WORK): stops them all, removes WORK, and keeps the script's exit status.
stop_all_and_clean() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$WORK"
  exit "$rc"
}
