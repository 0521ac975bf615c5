# Sourced by scripts/test: other containerd versions for the runtime tests' version matrix.
# containerd_fetch SUITE: prints the path of the containerd binary of Debian SUITE's package
# (trixie: 1.7, sid: 2.x), fetched by debian_fetch (scripts/lib/debian-fetch.sh: a private
# apt state, nothing installed). Cached under ~/.cache/pullcheck-test/containerd/ between runs;
# delete that directory to fetch the suites' current versions again.
. "$(dirname "${BASH_SOURCE[0]}")/debian-fetch.sh"
containerd_fetch() {
  debian_fetch "$1" containerd usr/bin/containerd "${XDG_CACHE_HOME:-$HOME/.cache}/pullcheck-test/containerd/$1"
}
