# syntax=docker/dockerfile:1
# sealgate-controller: a static (musl) binary on distroless/static, running as a non-root user.
#
#   docker build -t ghcr.io/sealgate/sealgate-controller:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ... --push .
#
# The build stage runs natively on each target platform (QEMU under buildx for the other one),
# so the musl target is picked from TARGETARCH, not cross-compiled.

FROM rust:1.95-bookworm AS build
ARG TARGETARCH
# musl-tools gives musl-gcc, which ring's C and assembly parts are built with.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
RUN case "${TARGETARCH:-amd64}" in \
      amd64) echo x86_64-unknown-linux-musl > /rust-target ;; \
      arm64) echo aarch64-unknown-linux-musl > /rust-target ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; \
    esac \
 && rustup target add "$(cat /rust-target)"
WORKDIR /src
COPY . .
# --locked: the image is built from exactly the committed Cargo.lock. The caches speed up
# rebuilds; the binary is copied out of the cached target dir within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    target="$(cat /rust-target)" \
 && cargo build --release --locked --bin sealgate-controller --target "$target" \
 && cp "target/$target/release/sealgate-controller" /sealgate-controller

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="sealgate-controller" \
      org.opencontainers.image.description="Decrypts EncryptedSecrets and materializes Secrets" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /sealgate-controller /sealgate-controller
# 65532 is distroless's "nonroot"; numeric so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/sealgate-controller"]
