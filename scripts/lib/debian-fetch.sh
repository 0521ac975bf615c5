# Sourced by the scripts that need a Debian package's files without installing the package.
# debian_fetch SUITE PACKAGE FILE [CACHE]: prints the path of FILE (e.g. usr/bin/etcd) inside
# SUITE's current PACKAGE, fetched with `apt-get download` under a private sources list, state
# and cache directory (the machine's apt configuration is neither read nor changed; nothing is
# installed) and unpacked with `dpkg-deb -x` into CACHE (default
# ~/.cache/pullcheck-test/debian/SUITE-PACKAGE). Cached: delete CACHE to fetch the suite's
# current version again.
debian_fetch() {
  local suite=$1 package=$2 file=$3
  local base="${XDG_CACHE_HOME:-$HOME/.cache}/pullcheck-test/debian"
  local dest=${4:-$base/$suite-$package}
  if [ -e "$dest/$file" ]; then
    echo "$dest/$file"
    return 0
  fi
  local apt="$dest.apt"
  rm -rf "$apt" && mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$apt/sources.list"
  local opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=/nonexistent"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  apt-get "${opts[@]}" update -qq >&2 || { echo "debian_fetch: apt-get update ($suite) failed" >&2; return 1; }
  local version
  version=$(apt-cache "${opts[@]}" policy "$package" | awk '/Candidate:/ {print $2}')
  [ -n "$version" ] && [ "$version" != "(none)" ] || { echo "debian_fetch: no $package in $suite" >&2; return 1; }
  (cd "$apt/deb" && apt-get "${opts[@]}" download "$package=$version" >/dev/null 2>&1) \
    || { echo "debian_fetch: apt-get download $package=$version ($suite) failed" >&2; return 1; }
  rm -rf "$dest"
  dpkg-deb -x "$apt"/deb/"${package}"_*.deb "$dest"
  rm -rf "$apt"
  [ -e "$dest/$file" ] || { echo "debian_fetch: no $file in $package=$version ($suite)" >&2; return 1; }
  echo "$dest/$file"
}
