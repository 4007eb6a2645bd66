#!/usr/bin/env bash
# Build a release: the binary, its man page and shell completions, the Debian package
# (cargo deb) and a tarball, with SHA-256 checksums, all in target/dist/.
#   deploy/package.sh            # needs cargo-deb: cargo install cargo-deb --locked
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked
bin=target/release/switchboard
version=$("$bin" --version | awk '{print $2}')
dist=target/dist
rm -rf "$dist"
mkdir -p "$dist/completions"

echo "== man page and completions"
"$bin" generate man | gzip -9n > "$dist/switchboard.1.gz"
"$bin" generate bash > "$dist/completions/switchboard.bash"
"$bin" generate zsh > "$dist/completions/_switchboard"
"$bin" generate fish > "$dist/completions/switchboard.fish"

echo "== Debian package"
cargo deb --no-build --locked --output "$dist/"

echo "== tarball"
name="switchboard-$version-$(uname -m)-linux"
stage="$dist/$name"
mkdir -p "$stage"
cp "$bin" README.md switchboard.toml "$stage/"
cp -r rules fixtures docs "$stage/"
mkdir -p "$stage/deploy"
cp -r deploy/debian "$stage/deploy/"
[ -d deploy/prometheus ] && cp -r deploy/prometheus "$stage/deploy/"
[ -d deploy/grafana ] && cp -r deploy/grafana "$stage/deploy/"
cp -r "$dist/completions" "$dist/switchboard.1.gz" "$stage/"
tar -C "$dist" -czf "$dist/$name.tar.gz" "$name"
rm -rf "$stage"

(cd "$dist" && sha256sum -- *.tar.gz *.deb > SHA256SUMS)
echo "== done"
ls -l "$dist"
cat "$dist/SHA256SUMS"
