# Grid in a container: one static binary on an empty base (no image can be pulled here).
# Build the binary first: `make build` (CGO_ENABLED=0), then `docker build -t grid:dev .`
# (`make docker` does both).
FROM scratch
COPY bin/grid /grid
VOLUME ["/data"]
EXPOSE 7000 7001 7946 7946/udp 9000 8001
ENTRYPOINT ["/grid"]
CMD ["--help"]
