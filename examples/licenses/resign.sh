#!/usr/bin/env bash
# Re-signs every example license with the demo key, then rebuilds
# tampered.lic: a copy of floating.lic with one signed count raised.
# Run from anywhere: bash examples/licenses/resign.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cargo build -q --manifest-path "$root/Cargo.toml" -p lmutil
lmutil="$root/target/debug/lmutil"
cd "$here"
files=$(ls *.lic | grep -v '^tampered.lic$')
"$lmutil" lmcrypt -key demo.key $files
{
  echo "# Tampered on purpose: this is floating.lic with the count of cad_pro"
  echo "# raised from 10 to 100 after signing. lmgrd --check must refuse it."
  sed 's/^FEATURE cad_pro demo 2.0 permanent 10 /FEATURE cad_pro demo 2.0 permanent 100 /' floating.lic
} > tampered.lic
grep -q 'cad_pro demo 2.0 permanent 100 ' tampered.lic
echo "resign.sh: signed $(echo $files | wc -w) files and rebuilt tampered.lic"
