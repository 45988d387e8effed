# Grid in a container: one static binary on an empty base (no image can be pulled here).
# Build the binary first: `make build` (CGO_ENABLED=0), then `docker build -t grid:dev .`
# (`make docker` does both). There is no shell in the image: the health check
# is a grid subcommand.
FROM scratch
COPY bin/grid /grid
# /data must be writable by the non-root user: a named volume is created from
# this image path, so create it owned by 10001.
COPY --chown=10001:10001 deploy/docker/data/ /data/
USER 10001:10001
VOLUME ["/data"]
# master: gRPC 7000, Raft 7001, gossip 7946 (tcp+udp), HTTP 9000
# agent: gRPC 8001, gossip 7947 (tcp+udp), storage nodes 50051-50150
EXPOSE 7000 7001 7946 7946/udp 9000 8001 7947 7947/udp 50051-50150
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["/grid", "health", "--http", "127.0.0.1:9000"]
ENTRYPOINT ["/grid"]
CMD ["--help"]
