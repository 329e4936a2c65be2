# syntax=docker/dockerfile:1
# The operator image: built with the project's toolchain (Swift 6.3 on Debian bookworm), run on
# debian:bookworm-slim with only the C libraries the binary links (libcurl, libyaml; zlib is in the base); the Swift
# runtime, Foundation and libstdc++ are linked statically. scripts/check-release-binary.sh runs the same build
# and checks the binary's libraries against this runtime image without a container engine.
#
#   docker build -t ghcr.io/elgerytme/pynomaly-operator:v0.1.0 .

FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4-openssl-dev libyaml-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not fetch them again. Package.resolved is not
# committed, so the versions are resolved here, from the ranges in Package.swift.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY crds ./crds
# SwiftPM refuses a manifest whose test targets have no directory, so the tests come along (1.6 MB);
# they are not built.
COPY Tests ./Tests
# The release link places the functions a running operator executes first, and takes libstdc++
# from its archive (see Package.swift).
COPY scripts/operator-symbol-order.txt ./scripts/
COPY scripts/static-libstdc++ ./scripts/static-libstdc++/
RUN swift build -c release --static-swift-stdlib --product pynomaly-operator \
 && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/pynomaly-operator" /out/pynomaly-operator \
 && strip /out/pynomaly-operator

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 libyaml-0-2 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nonroot
COPY --from=build /out/pynomaly-operator /usr/local/bin/pynomaly-operator
# libcurl's LDAP and RTMP libraries load GnuTLS, which initialises itself (PKCS#11 modules, its
# configuration) as it is loaded unless told not to; the operator's TLS is libcurl's OpenSSL and
# never calls GnuTLS. Measured: 0.7 MiB less resident memory.
ENV GNUTLS_NO_IMPLICIT_INIT=1
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/pynomaly-operator"]
CMD ["run", "--leader-elect"]
