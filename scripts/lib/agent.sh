# Sourced by the scripts that run `pullcheck agent` in the background.
# agent_up LOG COMMAND...: starts COMMAND (`BIN agent ARGS...`, possibly behind `taskset`;
# give `--listen 127.0.0.1:0` and, if
# wanted, `--metrics-listen 127.0.0.1:0`: the agent binds its own ports) with its stderr in LOG,
# at a log level that prints the `listening` line and little else, and waits until it has
# started. Sets $agent (pid), $agent_api and $agent_metrics (host:port, or `off`). Returns 1,
# printing the agent's last words, if it exits first or is not up within 30 s.
agent_up() {
  local log=$1
  shift
  "$@" --log 'warn,pullcheck::agent=info' 2>"$log" &
  agent=$!
  for _ in $(seq 1 300); do
    if grep -q 'pullcheck agent started' "$log" 2>/dev/null; then
      local line
      line=$(grep -m1 ' listening ' "$log")
      agent_api=$(sed -n 's/.* api=\([^ ]*\).*/\1/p' <<<"$line")
      agent_metrics=$(sed -n 's/.* metrics=\([^ ]*\).*/\1/p' <<<"$line")
      [ -n "$agent_api" ] && return 0
      echo "$(basename "$0"): no api address on the agent's listening line: $line" >&2
      return 1
    fi
    if ! kill -0 "$agent" 2>/dev/null; then
      echo "$(basename "$0"): the agent exited before it was up:" >&2
      tail -n 20 "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$(basename "$0"): the agent was not up after 30 s" >&2
  tail -n 20 "$log" >&2
  return 1
}
