# kubesnap operator image. Build: `make docker-build` (or `docker build -t kubesnap:dev .`).
#
# Stage 1 builds a release binary with the Swift standard library linked statically, so the
# runtime image needs only the C libraries kubesnap links (libcurl, libyaml, OpenSSL's libcrypto)
# and restic, the data mover.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcurl4-openssl-dev libyaml-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve dependencies first so that source changes do not refetch them.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product kubesnap --static-swift-stdlib \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/kubesnap" /out/kubesnap

# Stage 2: a slim Debian with only what the binary runs: libcurl, libyaml, CA certificates and
# restic. No package manager caches, no compilers, a non-root numeric user.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcurl4 libyaml-0-2 libssl3 ca-certificates restic tzdata \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* \
 && rm -f /usr/bin/apt* /usr/bin/dpkg*
COPY --from=build /out/kubesnap /usr/local/bin/kubesnap
COPY crds /usr/share/kubesnap/crds
# Writable places under a read-only root filesystem come from volumes (see deploy/deployment.yaml).
ENV HOME=/tmp XDG_CACHE_HOME=/cache
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kubesnap", "operator"]
