# Multi-stage build of the Switchyard server. The runtime image holds one binary and runs as an
# unprivileged user; migrations are compiled into the binary.

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p switchyard-server

FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/switchyard --create-home switchyard
COPY --from=build /src/target/release/switchyard-server /usr/local/bin/switchyard-server
USER switchyard:switchyard
WORKDIR /var/lib/switchyard
ENV SWITCHYARD_LISTEN=0.0.0.0:8080 \
    SWITCHYARD_DATA_DIR=/var/lib/switchyard
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/switchyard-server"]
