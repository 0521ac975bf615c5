# Sourced by the scripts that need the test bed (scripts/testbed.py) in the background.
# bed_start DIR: start the bed under DIR as the coprocess BED (its pid in $bed_pid);
# bed_wait DIR [WHO]: wait for DIR/bed.json; stop at once, with the bed's last words, if the bed
# process exits first. bed_up DIR [WHO] does both.
bed_start() {
  local dir=$1
  coproc BED { exec python3 scripts/testbed.py up "$dir" 2>"$dir/testbed.err"; }
  bed_pid=$BED_PID
}

bed_wait() {
  local dir=$1 who=${2:-$(basename "$0")}
  for _ in $(seq 1 1500); do
    [ -f "$dir/bed.json" ] && return 0
    if ! kill -0 "$bed_pid" 2>/dev/null; then
      echo "$who: the test bed exited before it was ready:" >&2
      tail -n 5 "$dir/testbed.err" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "$who: the test bed was not ready after 300 s" >&2
  return 1
}

bed_up() {
  bed_start "$1" && bed_wait "$@"
}
