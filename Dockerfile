# The Kiln image: one image for every component (`kiln operator`, `kiln webhook serve`, ...).
#
#   docker build -t kiln .                    # on the upstream python:3.11-slim-bookworm
#   hack/image.sh build                       # here: buildah on a base made from Debian's archive
#
# BASE needs python3 with its venv module on PATH (Debian's python3 + python3-venv, or the
# upstream python image). The runtime runs as a numeric non-root user and writes nothing outside
# /tmp, so it works with a read-only root filesystem (a pod mounts /tmp as an emptyDir).
ARG BASE=python:3.11-slim-bookworm

# The dependencies, in a stage of their own that only pyproject.toml changes (hack/image.sh keeps
# it, tagged, between builds): a stub package stands in for the sources and is uninstalled again.
FROM ${BASE} AS deps
# PIP_CERT: a CA bundle for pip where the build's network needs one (hack/image.sh mounts the
# host's). These stages are not shipped: only /opt/kiln is.
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/kiln
COPY pyproject.toml /src/
RUN mkdir -p /src/operator/kiln && touch /src/README.md /src/operator/kiln/__init__.py \
 && /opt/kiln/bin/pip install /src \
 && /opt/kiln/bin/pip uninstall -q -y kiln \
 && rm -rf /src

FROM deps AS build
ARG PIP_CERT
COPY pyproject.toml README.md /src/
COPY operator/ /src/operator/
# pip and setuptools are not needed to run Kiln: they stay out of the image
RUN /opt/kiln/bin/pip install --no-deps /src \
 && /opt/kiln/bin/python3 -m pip uninstall -q -y pip setuptools \
 && rm -rf /src

FROM ${BASE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="kiln" \
      org.opencontainers.image.description="Kiln: a Kubernetes operator that builds container images from Git repositories" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /opt/kiln /opt/kiln
# HOME=/tmp: whatever a library keeps in the home directory lands on the writable /tmp
ENV PATH=/opt/kiln/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["kiln"]
CMD ["--help"]
