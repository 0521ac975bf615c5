# Sourced by scripts/test: other containerd versions for the runtime tests' version matrix.
# containerd_fetch SUITE: prints the path of the containerd binary of Debian SUITE's package
# (trixie: 1.7, sid: 2.x), fetched with `apt-get download` under a private sources list, state
# and cache directory (the machine's apt configuration is neither read nor changed; nothing is
# installed) and unpacked with `dpkg-deb -x`. Cached under ~/.cache/pullcheck-test/containerd/
# between runs; delete that directory to fetch the suites' current versions again.
containerd_fetch() {
  local suite=$1
  local base="${XDG_CACHE_HOME:-$HOME/.cache}/pullcheck-test/containerd"
  local bin="$base/$suite/usr/bin/containerd"
  if [ -x "$bin" ]; then
    echo "$bin"
    return 0
  fi
  local apt="$base/apt-$suite"
  rm -rf "$apt" && mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$apt/sources.list"
  local opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=/nonexistent"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  apt-get "${opts[@]}" update -qq >&2 || { echo "containerd_fetch: apt-get update ($suite) failed" >&2; return 1; }
  local version
  version=$(apt-cache "${opts[@]}" policy containerd | awk '/Candidate:/ {print $2}')
  [ -n "$version" ] && [ "$version" != "(none)" ] || { echo "containerd_fetch: no containerd in $suite" >&2; return 1; }
  (cd "$apt/deb" && apt-get "${opts[@]}" download "containerd=$version" >/dev/null 2>&1) \
    || { echo "containerd_fetch: apt-get download containerd=$version failed" >&2; return 1; }
  rm -rf "${base:?}/$suite"
  dpkg-deb -x "$apt"/deb/containerd_*.deb "$base/$suite"
  rm -rf "$apt"
  [ -x "$bin" ] || { echo "containerd_fetch: no usr/bin/containerd in containerd=$version" >&2; return 1; }
  echo "$bin"
}
