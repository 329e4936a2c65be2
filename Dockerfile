# syntax=docker/dockerfile:1
# The operator image: built with the project's toolchain (Swift 6.3 on Debian bookworm), run on
# debian:bookworm-slim with only the C libraries the binary links (libyaml; zlib is in the base). The
# Swift runtime, Foundation, libstdc++ and libcurl are linked statically; libcurl is the project's
# HTTPS-only build of Debian's curl source with OpenSSL and nghttp2 (scripts/build-libcurl.sh).
# scripts/check-release-binary.sh runs the same build and checks the binary's libraries against this
# runtime image without a container engine.
#
#   docker build -t ghcr.io/elgerytme/pynomaly-operator:v0.1.0 .

FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev libnghttp2-dev dpkg-dev libyaml-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/build-libcurl.sh ./scripts/
RUN ./scripts/build-libcurl.sh
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
 && apt-get install -y --no-install-recommends libyaml-0-2 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nonroot
COPY --from=build /out/pynomaly-operator /usr/local/bin/pynomaly-operator
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/pynomaly-operator"]
CMD ["run", "--leader-elect"]
