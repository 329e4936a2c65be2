#!/usr/bin/env bash
# Builds the libcurl every binary of the project links: Debian's own curl source package (with the
# distribution's security patches, fetched and verified through apt from the distribution's deb-src),
# configured for HTTP and HTTPS only, and linked statically with the distribution's OpenSSL and
# nghttp2 archives. The result is one archive, .build-deps/curl/lib/libpynomaly-curl.a, plus curl's
# headers in .build-deps/curl/include (Sources/CCurl includes them from there).
#
# Why not Debian's libcurl.so: it is built with every protocol and links ~25 libraries (LDAP, RTMP,
# SSH, Kerberos, GnuTLS, IDN, PSL, brotli, zstd ...). The loader maps, relocates and initialises all of
# them at every start although the operator only speaks HTTPS to one API server: 5 MiB of the idle
# operator's memory (docs/performance.md). The cost: an OpenSSL or curl security fix reaches the
# operator when it is rebuilt, as with any statically linked TLS stack (Go's, BoringSSL's).
#
# Idempotent: does nothing when the archive exists and was built by this version of the script.
# Needs apt-get and dpkg-source (dpkg-dev), a C compiler, make, and the static OpenSSL, nghttp2 and
# zlib archives (libssl-dev, libnghttp2-dev, zlib1g-dev). No root needed: apt runs on private lists.
set -euo pipefail
cd "$(dirname "$0")/.."

out=.build-deps/curl
stamp="$out/built-by"
want="$(sha256sum "$0" | cut -c1-16)"
if [ -f "$out/lib/libpynomaly-curl.a" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi

multiarch="$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
libdir="/usr/lib/$multiarch"
for archive in libssl.a libcrypto.a libnghttp2.a; do
    [ -f "$libdir/$archive" ] || { echo "build-libcurl: $libdir/$archive is missing (apt-get install -y libssl-dev libnghttp2-dev)" >&2; exit 1; }
done
command -v dpkg-source >/dev/null || { echo "build-libcurl: dpkg-source is missing (apt-get install -y dpkg-dev)" >&2; exit 1; }
cc="${CC:-$(command -v cc || command -v gcc || command -v clang || true)}"
[ -n "$cc" ] || { echo "build-libcurl: no C compiler (cc, gcc or clang)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The source of the libcurl4 the distribution ships today, with its patches, verified by apt
# against the archive's signed indexes. apt runs on lists of its own: the system's apt
# configuration is neither needed nor changed.
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# A site with its own Debian mirror sets these (the archive's keys still verify what it serves).
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts" "$work/src"
cat > "$work/sources.list" <<EOF
deb-src [signed-by=$keyring] $mirror $codename main
deb-src [signed-by=$keyring] $mirror $codename-updates main
deb-src [signed-by=$keyring] $security_mirror $codename-security main
EOF
apt_options=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
             -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Debug::NoLocking=1 -qq)
[ "$(id -u)" = 0 ] && apt_options+=(-o APT::Sandbox::User=root)
apt-get "${apt_options[@]}" update >/dev/null
(cd "$work/src" && apt-get "${apt_options[@]}" source --download-only curl >/dev/null)
dsc="$(ls "$work"/src/curl_*.dsc)"
version="$(basename "$dsc" .dsc)"
dpkg-source -x "$dsc" "$work/curl" >"$work/dpkg-source.log" 2>&1 || { cat "$work/dpkg-source.log" >&2; exit 1; }
cd "$work/curl"
# The last two patches of Debian's series turn the tree into its GnuTLS and NSS flavours; the
# OpenSSL flavour (Debian's libcurl4) is the tree without them.
patch -R -s -p1 < debian/patches/99_nss.patch
patch -R -s -p1 < debian/patches/90_gnutls.patch
# Some patches touch configure.ac and Makefile.am; the generated files they would need regenerating
# for concern the features left out below, so the shipped ones are kept (no autotools needed).
find . \( -name configure -o -name Makefile.in -o -name aclocal.m4 -o -name curl_config.h.in \) -exec touch {} +

# HTTP and HTTPS (HTTP/2 through nghttp2, gzip/deflate through zlib, proxies), nothing else; the CA
# bundle and directory are Debian's, used when a kubeconfig names no certificate authority.
CC="$cc" CFLAGS="-O2 -fPIC -ffunction-sections -fdata-sections" ./configure -q \
    --disable-shared --enable-static --with-pic \
    --with-openssl --with-nghttp2 --with-zlib \
    --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --with-ca-path=/etc/ssl/certs \
    --without-libpsl --without-libidn2 --without-librtmp --without-libssh2 --without-brotli --without-zstd --without-gssapi \
    --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet --disable-tftp \
    --disable-pop3 --disable-imap --disable-smb --disable-smtp --disable-gopher --disable-mqtt \
    --disable-manual --disable-ntlm --disable-ntlm-wb \
    --disable-netrc --disable-alt-svc --disable-hsts --disable-cookies --disable-mime --disable-doh > "$work/configure.log" 2>&1 \
    || { tail -20 "$work/configure.log" >&2; exit 1; }
make -s -j"$(nproc)" -C lib >/dev/null 2>"$work/make.log" || { tail -20 "$work/make.log" >&2; exit 1; }

cd - >/dev/null
rm -rf "$out"
mkdir -p "$out/lib" "$out/include/curl"
cp "$work"/curl/include/curl/*.h "$out/include/curl/"
# One archive with curl, nghttp2 and OpenSSL: the link names one library, and no shared libssl,
# libcrypto or libnghttp2 on the library path can be picked instead.
{
    echo "CREATE $out/lib/libpynomaly-curl.a"
    echo "ADDLIB $work/curl/lib/.libs/libcurl.a"
    for archive in libnghttp2.a libssl.a libcrypto.a; do echo "ADDLIB $libdir/$archive"; done
    echo "SAVE"
    echo "END"
} | ar -M
ranlib "$out/lib/libpynomaly-curl.a"
echo "$version" > "$out/source-version"
echo "$want" > "$stamp"
echo "build-libcurl: built $out/lib/libpynomaly-curl.a from $version"
