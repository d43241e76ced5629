#!/bin/sh
# Entry point of scrydon-drill/seaweedfs.
#
# `server` (the default) runs `weed server -s3` with every port set: left to itself weed
# picks some of them (gRPC, metrics, the S3 side services) in ways that collide or change
# between releases. Components talk to each other over the loopback address and bind every
# interface, so only what is published leaves the container. Arguments after `server` are
# passed on (a later -flag overrides an earlier one). Any other command runs weed itself,
# e.g. `shell` or `version`.
set -eu

if [ "${1:-server}" != server ]; then
    exec weed "$@"
fi
if [ "$#" -gt 0 ]; then shift; fi

mkdir -p /data
# exec: weed becomes PID 1 and receives the engine's SIGTERM itself. volume.max=0: as many
# volumes as the disk holds (the default 8 stops at a few GiB across buckets).
# master.peers=none: a single master leads at once (no 1.5-2 s wait for peers, no 5 s
# heartbeat retry of a volume server that came first); telemetry off.
exec weed -logtostderr server \
    -dir=/data -ip=127.0.0.1 -ip.bind=0.0.0.0 \
    -master.port=9333 -master.port.grpc=19333 -master.volumeSizeLimitMB=1024 \
    -master.peers=none -master.telemetry=false \
    -volume.port=8080 -volume.port.grpc=18080 -volume.preStopSeconds=0 -volume.max=0 \
    -filer.port=8888 -filer.port.grpc=18888 \
    -s3 -s3.port=8333 -s3.port.grpc=18333 -s3.port.iceberg=0 -s3.port.lance=0 \
    -metricsPort=9324 \
    "$@"
