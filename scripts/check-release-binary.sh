#!/usr/bin/env bash
# Builds the operator exactly as the Dockerfile's build stage does and checks that the binary runs on
# the runtime image (debian:bookworm-slim + libyaml-0-2 ca-certificates), without a
# container engine:
#   1. every shared library the binary itself needs (ELF NEEDED) is on the allow-list below, each
#      named with the Debian package that ships it in the runtime image (so the Swift runtime,
#      Foundation, libstdc++, libcurl, OpenSSL, ICU, libxml2 ... must be linked statically);
#   2. ldd resolves every library (direct and transitive), and each one belongs to a package the
#      runtime packages pull in (apt-cache depends --recurse), when dpkg/apt-cache are available;
#   3. no glibc symbol newer than bookworm's glibc (2.36) is required;
#   4. the binary starts (`--help`).
# Run from anywhere; exits non-zero naming the first problem. SCRATCH_PATH overrides .build.
set -euo pipefail

cd "$(dirname "$0")/.."
scratch="${SCRATCH_PATH:-.build}"
product=pynomaly-operator
max_glibc="2.36"   # Debian bookworm

# soname -> the Debian package that provides it in the runtime image.
declare -A allowed=(
    [linux-vdso.so.1]="(kernel)"
    [ld-linux-x86-64.so.2]=libc6
    [ld-linux-aarch64.so.1]=libc6
    [libc.so.6]=libc6
    [libm.so.6]=libc6
    [libpthread.so.0]=libc6
    [libdl.so.2]=libc6
    [librt.so.1]=libc6
    [libutil.so.1]=libc6
    [libgcc_s.so.1]=libgcc-s1
    [libz.so.1]=zlib1g
    [libyaml-0.so.2]=libyaml-0-2
)
# What the runtime image has: the base image's essentials plus what the Dockerfile installs.
runtime_packages=(libc6 libgcc-s1 zlib1g libyaml-0-2 ca-certificates)

fail() { echo "check-release-binary: FAILED: $*" >&2; exit 1; }

started=$(date +%s)
echo "==> swift build -c release --static-swift-stdlib --product $product (scratch path $scratch)"
swift build -c release --static-swift-stdlib --product "$product" --scratch-path "$scratch"
bin="$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/$product"
[ -x "$bin" ] || fail "$bin was not built"
built=$(date +%s)
echo "==> built $bin ($(du -h "$bin" | cut -f1)) in $((built - started)) s"

echo "==> 1. direct dependencies (ELF NEEDED)"
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p')
[ -n "$needed" ] || fail "readelf found no NEEDED entries in $bin"
bad=()
for soname in $needed; do
    if [ -n "${allowed[$soname]:-}" ]; then
        printf '    %-24s ok (%s)\n' "$soname" "${allowed[$soname]}"
    else
        printf '    %-24s NOT in the runtime image\n' "$soname"
        bad+=("$soname")
    fi
done
[ ${#bad[@]} -eq 0 ] || fail "the binary needs ${bad[*]}, which the runtime image does not have (is the Swift stdlib static?)"

echo "==> 2. ldd: every library resolves and comes from a runtime package"
ldd_out=$(ldd "$bin")
if grep -q "not found" <<<"$ldd_out"; then
    echo "$ldd_out"
    fail "ldd cannot resolve some libraries"
fi
if command -v dpkg >/dev/null && command -v apt-cache >/dev/null; then
    closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
                  --no-replaces --no-enhances "${runtime_packages[@]}" 2>/dev/null \
              | sed -n 's/^\([a-z0-9][^ <>:]*\)\(:[a-z0-9]*\)\{0,1\}$/\1/p; s/^ *\(Pre\)\{0,1\}Depends: \([^<>: ]*\).*/\2/p' | sort -u)
    outside=()
    while read -r line; do
        path=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) { print $i; exit } }' <<<"$line")
        [ -n "$path" ] || continue
        real=$(readlink -f "$path")
        package=$(dpkg -S "$real" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true)
        package=${package%%:*}
        if [ -z "$package" ]; then
            printf '    %-48s no package owns it\n' "$path"; outside+=("$path")
        elif grep -qx "$package" <<<"$closure"; then
            printf '    %-48s %s\n' "$path" "$package"
        else
            printf '    %-48s %s: NOT pulled in by the runtime packages\n' "$path" "$package"; outside+=("$path")
        fi
    done <<<"$ldd_out"
    [ ${#outside[@]} -eq 0 ] || fail "libraries outside the runtime image: ${outside[*]}"
else
    echo "$ldd_out"
    echo "    (dpkg/apt-cache not available: package ownership not checked)"
fi

echo "==> 3. glibc symbol versions (at most GLIBC_$max_glibc)"
newest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
echo "    newest required: GLIBC_${newest:-none}"
if [ -n "$newest" ] && [ "$(printf '%s\n%s\n' "$newest" "$max_glibc" | sort -V | tail -1)" != "$max_glibc" ]; then
    fail "the binary needs GLIBC_$newest, bookworm has $max_glibc"
fi

echo "==> 4. the binary starts"
"$bin" --help >/dev/null || fail "$bin --help failed"
echo "    $product --help: ok"

echo "check-release-binary: passed in $(( $(date +%s) - started )) s"
