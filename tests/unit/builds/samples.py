"""Build logs as BuildKit and buildah print them, for the parsers' and scripts' tests.

BuildKit: `--progress plain` as util/progress/progressui/printer.go (v0.32.2) writes it; the
opening vertices are docs/cdi.md's example output, the cache vertices those of BuildKit's
issue threads (`#52 exporting cache to registry` / `#52 preparing build cache for export`).
buildah: 1.28's STEP and cache lines as tests/bud.bats of v1.28.2 expects them.
"""

from __future__ import annotations

BUILDKIT_CACHED = """\
#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 99B done
#1 DONE 0.0s

#2 [internal] load metadata for docker.io/library/busybox:latest
#2 ...

#3 [auth] library/busybox:pull token for registry-1.docker.io
#3 DONE 0.0s

#2 [internal] load metadata for docker.io/library/busybox:latest
#2 DONE 0.8s

#4 importing cache manifest from registry.example.com/acme/app-kiln-cache-main:buildkit
#4 DONE 0.2s

#5 [internal] load .dockerignore
#5 transferring context: 2B done
#5 DONE 0.0s

#6 [1/3] FROM docker.io/library/busybox:latest@sha256:a5d0ce49aa801d475da48f8cb163c354ab95cab073cd3c138bd458fc8257fbf1
#6 resolve docker.io/library/busybox:latest@sha256:a5d0ce49aa801d475da48f8cb163c354ab95cab073cd3c138bd458fc8257fbf1 0.0s done
#6 CACHED

#7 [2/3] RUN echo hello
#7 CACHED

#8 [3/3] RUN make
#8 0.062 building
#8 DONE 1.1s

#9 exporting to image
#9 exporting layers 0.1s done
#9 pushing layers 0.3s done
#9 DONE 0.5s

#10 exporting cache to registry
#10 preparing build cache for export
#10 writing layer sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1 done
#10 DONE 0.4s
"""

# A first build: nothing in the registry cache, which BuildKit reports and goes on.
BUILDKIT_COLD = """\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s

#2 importing cache manifest from registry.example.com/acme/app-kiln-cache-main:buildkit
#2 ERROR: failed to configure registry cache importer: registry.example.com/acme/app-kiln-cache-main:buildkit: not found

#3 [1/2] FROM docker.io/library/alpine:3.20
#3 DONE 0.9s

#4 [2/2] RUN make
#4 DONE 2.0s

#5 exporting to image
#5 DONE 0.5s

#6 exporting cache to registry
#6 preparing build cache for export
#6 ERROR: failed to push registry.example.com/acme/app-kiln-cache-main:buildkit: unexpected status 403
"""

BUILDKIT_MULTI_STAGE = """\
#5 [builder 1/3] FROM docker.io/library/golang:1.22
#5 DONE 3.0s

#6 [builder 2/3] COPY . /src
#6 DONE 0.1s

#7 [builder 3/3] RUN go build -o /app ./cmd/app
#7 ...

#8 [stage-1 1/2] FROM docker.io/library/alpine:3.20
#8 CACHED

#7 [builder 3/3] RUN go build -o /app ./cmd/app
#7 DONE 12.3s
"""

BUILDKIT_MULTI_PLATFORM = """\
#5 [linux/amd64 1/2] FROM docker.io/library/alpine:3.20
#5 DONE 0.1s

#6 [linux/arm64 1/2] FROM docker.io/library/alpine:3.20
#6 DONE 0.1s

#7 [linux/amd64 2/2] RUN make
#7 CACHED

#8 [linux/arm64 2/2] RUN make
"""

BUILDKIT_PADDED = "\n".join(f"#{n + 4} [{n:2d}/12] RUN step {n}" for n in range(1, 11)) + "\n"

BUILDKIT_FAILED = """\
#6 [1/3] FROM docker.io/library/alpine:3.20
#6 DONE 0.9s

#7 [2/3] RUN make
#7 0.101 cc -o app main.c
#7 0.209 main.c:1:1: error: unknown type name 'nope'
#7 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2
------
 > [2/3] RUN make:
0.209 main.c:1:1: error: unknown type name 'nope'
------
Dockerfile:2
--------------------
   1 |     FROM alpine:3.20
   2 | >>> RUN make
--------------------
error: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2
"""

BUILDAH_CACHED = """\
STEP 1/5: FROM alpine
STEP 2/5: RUN echo hello
--> Cache pulled from remote registry.example.com/acme/app-kiln-cache-main:5a1e0f
--> Using cache 5a1e0f2b8c3d
STEP 3/5: RUN echo world
--> Cache pulled from remote registry.example.com/acme/app-kiln-cache-main:6b2f1a
STEP 4/5: RUN touch hello
world
--> Pushing cache registry.example.com/acme/app-kiln-cache-main:7c3a2b
STEP 5/5: ADD somefile somefile
--> Pushing cache registry.example.com/acme/app-kiln-cache-main:8d4b3c
COMMIT registry.example.com/acme/app:latest
--> 8d4b3c9e0f1a
"""

BUILDAH_MULTI_STAGE = """\
[1/2] STEP 1/3: FROM ubuntu:latest AS builder
[1/2] STEP 2/3: RUN make
[1/2] STEP 3/3: RUN make install
--> Using cache 0123456789ab
[2/2] STEP 1/3: FROM alpine:latest AS mytarget
[2/2] STEP 2/3: COPY --from=builder /out /
"""

# --platform linux/amd64,linux/arm64: the whole Dockerfile once per platform
BUILDAH_MULTI_PLATFORM = """\
STEP 1/2: FROM alpine
STEP 2/2: RUN make
COMMIT
STEP 1/2: FROM alpine
STEP 2/2: RUN make
"""

BUILDAH_FAILED = """\
STEP 1/3: FROM alpine
STEP 2/3: RUN make
make: *** No targets specified and no makefile found.  Stop.
Error: building at STEP "RUN make": while running runtime: exit status 2
"""
