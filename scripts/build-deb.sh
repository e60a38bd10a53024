#!/usr/bin/env bash
# Builds the Debian package `lm` with dpkg-deb (no cargo-deb needed: it is
# one more tool to compile, and this script shows everything that goes in).
#
#   scripts/build-deb.sh [BIN_DIR] [OUT_DIR]
#
# BIN_DIR holds the built lmgrd, vendord, lmutil and lmflex (default
# target/release: run `cargo build --release --workspace` first); the
# package is written to OUT_DIR (default target/debian) and its path
# printed. Man pages and bash completions are generated from the
# programs' own usage texts, so they say what the command lines accept.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=${1:-$root/target/release}
out_dir=${2:-$root/target/debian}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
arch=$(dpkg --print-architecture)
tools="lmstat lmdown lmreread lmremove lmhostid lmver lmdiag lmpath lmswitchr lmswitch lmnewlog lmcksum lmborrow lmreport lmcrypt"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" \
  "$stage/etc/lm" "$stage/etc/logrotate.d" "$stage/var/lib/lm" "$stage/var/log/lm" \
  "$stage/usr/share/doc/lm/examples" "$stage/usr/share/man/man1" \
  "$stage/usr/share/bash-completion/completions"

for b in lmgrd vendord lmutil lmflex; do
  install -m 755 "$bin_dir/$b" "$stage/usr/bin/$b"
done
for t in $tools; do
  ln -s lmutil "$stage/usr/bin/$t"
done
install -m 644 "$root/contrib/systemd/lmgrd.service" "$stage/lib/systemd/system/"
install -m 644 "$root/contrib/logrotate/lm" "$stage/etc/logrotate.d/lm"
install -m 644 "$root/docs/admin-guide.md" "$root/docs/compatibility.md" \
  "$root/docs/options-file.md" "$root/docs/license-file.md" "$stage/usr/share/doc/lm/"
install -m 644 "$root/examples/licenses/demo.lic" "$stage/usr/share/doc/lm/examples/"
cat > "$stage/usr/share/doc/lm/copyright" <<EOF
lm license manager $version
License: MIT OR Apache-2.0
EOF

# The usage text of a program: `-help` (our tools), else what it prints
# for an unknown option; from the line that starts with "usage:".
usage() {
  { "$@" -help 2>&1 || "$@" --help 2>&1 || true; } | sed -n '/^usage:/,$p'
}

# roff for one page: the usage text as the synopsis, verbatim.
man_page() { # name section summary usage_text
  local name=$1 summary=$2 text=$3 upper
  upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
  {
    echo ".TH $upper 1 \"\" \"lm $version\" \"lm license manager\""
    echo ".SH NAME"
    echo "$name \\- $summary"
    echo ".SH SYNOPSIS"
    echo ".nf"
    # Backslashes and leading dots must not be taken for roff requests.
    printf '%s\n' "$text" | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
    echo ".fi"
    echo ".SH SEE ALSO"
    echo "/usr/share/doc/lm/admin-guide.md"
  } | gzip -9n > "$stage/usr/share/man/man1/$name.1.gz"
}

# bash completion: the options the usage text names.
completion() { # name usage_text [words...]
  local name=$1 text=$2; shift 2
  local words
  words=$(printf '%s\n' "$text" | { grep -oE '(^|[[ ])-{1,2}[A-Za-z][A-Za-z0-9_-]*' || true; } \
    | sed 's/^[[ ]//' | sort -u | tr '\n' ' ')
  printf 'complete -o default -W "%s" %s\n' "$* $words" "$name" \
    > "$stage/usr/share/bash-completion/completions/$name"
}

summary() {
  case $1 in
    lmgrd) echo "license manager daemon: starts and supervises the vendor daemons" ;;
    vendord) echo "the demo publisher's vendor daemon (started by lmgrd)" ;;
    lmutil) echo "license administration tools" ;;
    lmflex) echo "demo application: checks a license out and in" ;;
    lmstat) echo "license server status and who uses what" ;;
    lmdown) echo "stop license servers or one vendor daemon" ;;
    lmreread) echo "make lmgrd reread its license files" ;;
    lmremove) echo "free a user's licenses" ;;
    lmhostid) echo "this machine's host ids" ;;
    lmver) echo "version of an lm binary" ;;
    lmdiag) echo "diagnose license checkout problems" ;;
    lmpath) echo "the license search path in ~/.flexlmrc" ;;
    lmswitchr) echo "continue a report log in another file" ;;
    lmswitch) echo "move a vendor daemon's debug log to a new file" ;;
    lmnewlog) echo "start a new report log, keeping the old one" ;;
    lmcksum) echo "license line checksums" ;;
    lmborrow) echo "borrow licenses for use away from the server" ;;
    lmreport) echo "summaries of a report log" ;;
    lmcrypt) echo "sign license files (publishers)" ;;
  esac
}

for b in lmgrd vendord lmflex; do
  text=$(usage "$bin_dir/$b")
  man_page "$b" "$(summary "$b")" "$text"
  completion "$b" "$text"
done
text=$("$bin_dir/lmutil" -help 2>&1 || true)
man_page lmutil "$(summary lmutil)" "$text"
completion lmutil "$text" $tools
for t in $tools; do
  text=$(usage "$bin_dir/lmutil" "$t")
  man_page "$t" "$(summary "$t")" "$text"
  completion "$t" "$text"
done

size=$(du -sk "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: lm
Version: $version
Architecture: $arch
Maintainer: lm developers <lm@localhost>
Installed-Size: $size
Depends: adduser, libc6
Section: net
Priority: optional
Description: FLEXlm-compatible license manager
 lmgrd, the demo vendor daemon, the lmutil administration tools
 (lmstat, lmdown, lmreread, ...) and a systemd unit that runs lmgrd as
 the unprivileged user lmgrd, serving the license files in /etc/lm.
EOF
echo /etc/logrotate.d/lm > "$stage/DEBIAN/conffiles"
install -m 755 "$root/contrib/debian/postinst" "$root/contrib/debian/postrm" "$stage/DEBIAN/"

mkdir -p "$out_dir"
deb="$out_dir/lm_${version}_${arch}.deb"
# LM_DEB_COMPRESSION (1-9, default 9): the tests set 1 for speed.
dpkg-deb --root-owner-group -Zgzip -z"${LM_DEB_COMPRESSION:-9}" --build "$stage" "$deb" >/dev/null
echo "$deb"
