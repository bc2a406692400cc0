# syntax=docker/dockerfile:1.7
#
# Two things are built from this file:
#
# 1. LCE's on-device benchmark binary `lce_benchmark_model`, cross-compiled with Bazel from the
#    upstream larq/compute-engine source at the tag matching our LCE version, as LCE's own release
#    workflow builds it. One build stage per target, and one output-only stage per target holding
#    just the binary:
#
#      docker buildx build --target arm64         --output type=local,dest=out/arm64 .
#      docker buildx build --target armv7         --output type=local,dest=out/armv7 .
#      docker buildx build --target android-arm64 --output type=local,dest=out/android-arm64 .
#
#    (`bnn-deploy build-runtime --target ...` runs exactly this, checks and registers the result;
#    `bnn-deploy build-runtime --target ... --print-plan` shows the command, platform, build args
#    and steps without running Docker.) Each leaves one file, DIR/lce_benchmark_model: a
#    dynamically linked executable (glibc and libstdc++ on the Linux targets, bionic on Android).
#
#    The build stages are pinned to linux/amd64: Bazel, TensorFlow's ARM cross-toolchains and the
#    Android NDK are x86-64 programs. On an arm64 Docker host (Apple Silicon, arm64 Linux) they
#    run under emulation, which works but is several times slower.
#
#    Downloads while the image builds: this file's frontend image docker/dockerfile:1.7 (a tag
#    that moves with 1.7.x releases); the python base image (pinned by digest); Debian packages
#    from the current bookworm mirror (not pinned); the LCE source (git tag); Bazel, the Android
#    NDK and command-line tools (sha256-checked); SDK platform and build-tools (checksummed by
#    sdkmanager). Bazel then fetches what LCE's WORKSPACE declares (TensorFlow 2.16.1 and its
#    dependencies, sha256-pinned there), TensorFlow's ARM toolchains, and a hermetic CPython
#    registered by rules_python. Expect 30-90 min per target and ~15 GB of disk for Bazel's cache
#    on the first build.
#
#    Bazel's parallelism is capped so that the build fits a Docker engine with 8 GB of RAM; on a
#    bigger one, raise it: --build-arg BAZEL_JOBS=16 --build-arg BAZEL_LOCAL_RAM_MB=24576
#    (`bnn-deploy build-runtime --bazel-jobs 16 --bazel-ram 24GB`).
#
# 2. The default (last) stage `bnn-deploy`: the toolchain itself, so it runs without a Python
#    set-up (linux/amd64 only: LCE publishes no Linux aarch64 wheel):
#
#      docker build -t bnn-deploy .
#      docker run --rm -v "$PWD:/work" --user "$(id -u):$(id -g)" bnn-deploy export ckpt.pt --target arm64
#
# Build args are in the environment of every RUN of their stage, so none is named like a variable
# that LCE's configure.py or TensorFlow's Bazel rules read (ANDROID_*, TF_*, PYTHON_*): those are
# set explicitly where they are meant to be read.

ARG LCE_VERSION=0.16.0
ARG BAZEL_VERSION=6.5.0
ARG BAZEL_SHA256=a40ac69263440761199fcb8da47ad4e3f328cbe79ffbf4ecc14e5ba252857307
# Bazel flags used by every target, as in LCE's own release workflow.
ARG BAZEL_BUILD_FLAGS="-c opt --copt=-O3"
# Bazel's parallel jobs and the RAM (MB) it plans them with (--jobs, --local_ram_resources):
# sized for a Docker engine with 8 GB, leaving room for Bazel's own server and the page cache.
ARG BAZEL_JOBS=4
ARG BAZEL_LOCAL_RAM_MB=4096

# --------------------------------------------------------------------------- LCE source + Bazel
# python:3.11 on Debian 12: Python is needed by LCE's configure.py and TensorFlow's Bazel rules;
# the same pinned image is used for the bnn-deploy stage below. linux/amd64 because Bazel, the ARM
# cross-toolchains and the NDK are x86-64 programs; the build stages below inherit it.
# hadolint ignore=DL3029
FROM --platform=linux/amd64 python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5 AS lce-source

ARG LCE_VERSION
ARG BAZEL_VERSION
ARG BAZEL_SHA256

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Host tools: Bazel compiles its host tools (protoc, flatc) with the host gcc; the ARM cross
# toolchains are fetched by Bazel itself (TensorFlow's elinux configs), the Android one below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        binutils \
        build-essential \
        ca-certificates \
        curl \
        git \
        patch \
        unzip \
        zip \
    && rm -rf /var/lib/apt/lists/*

# Bazel itself (sha256-pinned); numpy and six because configure.py and TensorFlow's Python rules
# look for them (as in LCE's release workflow); and an unprivileged build user, because nothing
# after this needs root. (Root would also work: LCE's WORKSPACE registers the hermetic Python
# with ignore_root_user_error = True.)
RUN curl -fsSL --retry 3 -o /usr/local/bin/bazel \
        "https://github.com/bazelbuild/bazel/releases/download/${BAZEL_VERSION}/bazel-${BAZEL_VERSION}-linux-x86_64" \
    && echo "${BAZEL_SHA256}  /usr/local/bin/bazel" | sha256sum -c - \
    && chmod 0755 /usr/local/bin/bazel \
    && pip install --no-cache-dir numpy==1.26.4 six==1.16.0 \
    && useradd --create-home --uid 1000 --shell /bin/bash builder
USER 1000:1000
WORKDIR /home/builder

# No submodules: Bazel takes TensorFlow from the http_archive in LCE's WORKSPACE; only LCE's CMake
# build uses the third_party/tensorflow submodule.
RUN git -c advice.detachedHead=false clone --depth 1 \
        --branch "v${LCE_VERSION}" https://github.com/larq/compute-engine.git compute-engine \
    && git -C compute-engine log -1 --format='LCE source: %H %d' \
    && mkdir -p /home/builder/.cache

WORKDIR /home/builder/compute-engine
# TF_PYTHON_VERSION: the version of the hermetic CPython that LCE's WORKSPACE registers with
# rules_python (this image's version; Bazel downloads that interpreter itself).
# BAZEL_OUTPUT_ROOT: Bazel's output root; each build stage mounts a BuildKit cache there.
ENV HOME=/home/builder \
    TF_PYTHON_VERSION=3.11 \
    BAZEL_OUTPUT_ROOT=/home/builder/.cache/bazel

# Non-interactive configure (writes .lce_configure.bazelrc): system Python, no Android workspace
# (the android stage re-runs it with Android settings).
RUN PYTHON_BIN_PATH=/usr/local/bin/python3 USE_DEFAULT_PYTHON_LIB_PATH=1 \
        CC_OPT_FLAGS="-Wno-sign-compare" LCE_SET_ANDROID_WORKSPACE=0 \
        python3 configure.py < /dev/null \
    && bazel --version

# --------------------------------------------------------------------------- arm64 (aarch64)
FROM lce-source AS build-arm64
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG BAZEL_BUILD_FLAGS
ARG BAZEL_JOBS
ARG BAZEL_LOCAL_RAM_MB
RUN --mount=type=cache,target=/home/builder/.cache/bazel,id=lce-bazel-arm64,uid=1000,gid=1000 \
    bazel --output_user_root="${BAZEL_OUTPUT_ROOT}" build --config=aarch64 ${BAZEL_BUILD_FLAGS} \
        --jobs="${BAZEL_JOBS}" --local_ram_resources="${BAZEL_LOCAL_RAM_MB}" \
        //larq_compute_engine/tflite/benchmark:lce_benchmark_model \
    && mkdir -p /home/builder/out \
    && cp bazel-bin/larq_compute_engine/tflite/benchmark/lce_benchmark_model /home/builder/out/ \
    && readelf -h /home/builder/out/lce_benchmark_model | grep 'Machine: *AArch64$'

# --------------------------------------------------------------------------- armv7 (rpi3, armhf)
FROM lce-source AS build-armv7
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG BAZEL_BUILD_FLAGS
ARG BAZEL_JOBS
ARG BAZEL_LOCAL_RAM_MB
RUN --mount=type=cache,target=/home/builder/.cache/bazel,id=lce-bazel-armv7,uid=1000,gid=1000 \
    bazel --output_user_root="${BAZEL_OUTPUT_ROOT}" build --config=rpi3 ${BAZEL_BUILD_FLAGS} \
        --jobs="${BAZEL_JOBS}" --local_ram_resources="${BAZEL_LOCAL_RAM_MB}" \
        //larq_compute_engine/tflite/benchmark:lce_benchmark_model \
    && mkdir -p /home/builder/out \
    && cp bazel-bin/larq_compute_engine/tflite/benchmark/lce_benchmark_model /home/builder/out/ \
    && readelf -h /home/builder/out/lce_benchmark_model | grep 'Machine: *ARM$'

# --------------------------------------------------------------------------- android-arm64
# Android NDK r25c (25.2.9519653) and SDK platform 30 / build-tools 31.0.0, the versions LCE's
# own release workflow configures for --config=android_arm64. The args are not called ANDROID_*:
# TensorFlow's android_configure.bzl reads ANDROID_NDK_VERSION and calls int() on it (configure.py
# writes the major version, 25, with --action_env), so "25.2.9519653" must not be in the
# environment under that name.
FROM lce-source AS build-android-arm64
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG BAZEL_BUILD_FLAGS
ARG BAZEL_JOBS
ARG BAZEL_LOCAL_RAM_MB
ARG NDK_REVISION=25.2.9519653
ARG NDK_RELEASE=r25c
ARG NDK_SHA256=769ee342ea75f80619d985c2da990c48b3d8eaf45f48783a2d48870d04b46108
ARG SDK_CMDLINE_TOOLS_BUILD=11076708
ARG SDK_CMDLINE_TOOLS_SHA256=2d2d50857e4eb553af5a6dc3ad507a17adf43d115264b1afc116f95c92e5e258
ARG SDK_API_LEVEL=30
ARG SDK_BUILD_TOOLS=31.0.0

USER 0:0
# sdkmanager (command-line tools 12.0) needs Java 17; Bazel brings its own JDK.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /opt/android-sdk \
    && chown builder:builder /opt/android-sdk
USER 1000:1000

RUN curl -fsSL --retry 3 -o /tmp/cmdline-tools.zip \
        "https://dl.google.com/android/repository/commandlinetools-linux-${SDK_CMDLINE_TOOLS_BUILD}_latest.zip" \
    && echo "${SDK_CMDLINE_TOOLS_SHA256}  /tmp/cmdline-tools.zip" | sha256sum -c - \
    && mkdir -p /opt/android-sdk/cmdline-tools \
    && unzip -q /tmp/cmdline-tools.zip -d /tmp/cmdline-tools \
    && mv /tmp/cmdline-tools/cmdline-tools /opt/android-sdk/cmdline-tools/latest \
    && rm -rf /tmp/cmdline-tools /tmp/cmdline-tools.zip \
    && (yes || true) | /opt/android-sdk/cmdline-tools/latest/bin/sdkmanager --sdk_root=/opt/android-sdk --licenses > /dev/null \
    && /opt/android-sdk/cmdline-tools/latest/bin/sdkmanager --sdk_root=/opt/android-sdk \
        "platforms;android-${SDK_API_LEVEL}" "build-tools;${SDK_BUILD_TOOLS}"

RUN curl -fsSL --retry 3 -o /tmp/ndk.zip \
        "https://dl.google.com/android/repository/android-ndk-${NDK_RELEASE}-linux.zip" \
    && echo "${NDK_SHA256}  /tmp/ndk.zip" | sha256sum -c - \
    && mkdir -p /opt/android-sdk/ndk \
    && unzip -q /tmp/ndk.zip -d /tmp/ndk \
    && mv "/tmp/ndk/android-ndk-${NDK_RELEASE}" "/opt/android-sdk/ndk/${NDK_REVISION}" \
    && rm -rf /tmp/ndk /tmp/ndk.zip \
    && grep -q "Pkg.Revision = ${NDK_REVISION}" "/opt/android-sdk/ndk/${NDK_REVISION}/source.properties"

# Re-run configure.py with the Android workspace and the settings LCE's release workflow passes it;
# it rewrites .lce_configure.bazelrc with ANDROID_NDK_HOME/ANDROID_SDK_HOME, the API levels, the
# build-tools version and ANDROID_NDK_VERSION (the NDK's major version, read from the NDK).
RUN PYTHON_BIN_PATH=/usr/local/bin/python3 USE_DEFAULT_PYTHON_LIB_PATH=1 \
        CC_OPT_FLAGS="-Wno-sign-compare" LCE_SET_ANDROID_WORKSPACE=1 \
        ANDROID_SDK_HOME=/opt/android-sdk \
        ANDROID_API_LEVEL="${SDK_API_LEVEL}" \
        ANDROID_BUILD_TOOLS_VERSION="${SDK_BUILD_TOOLS}" \
        ANDROID_NDK_HOME="/opt/android-sdk/ndk/${NDK_REVISION}" \
        ANDROID_NDK_API_LEVEL="${SDK_API_LEVEL}" \
        python3 configure.py < /dev/null \
    && grep -q ANDROID_NDK_HOME .lce_configure.bazelrc \
    && grep -q ANDROID_SDK_HOME .lce_configure.bazelrc

RUN --mount=type=cache,target=/home/builder/.cache/bazel,id=lce-bazel-android-arm64,uid=1000,gid=1000 \
    bazel --output_user_root="${BAZEL_OUTPUT_ROOT}" build --config=android_arm64 ${BAZEL_BUILD_FLAGS} \
        --jobs="${BAZEL_JOBS}" --local_ram_resources="${BAZEL_LOCAL_RAM_MB}" \
        //larq_compute_engine/tflite/benchmark:lce_benchmark_model \
    && mkdir -p /home/builder/out \
    && cp bazel-bin/larq_compute_engine/tflite/benchmark/lce_benchmark_model /home/builder/out/ \
    && readelf -h /home/builder/out/lce_benchmark_model | grep 'Machine: *AArch64$'

# --------------------------------------------------------------------------- output-only stages
# `--output type=local,dest=DIR` with one of these leaves exactly DIR/lce_benchmark_model.
FROM scratch AS arm64
COPY --from=build-arm64 /home/builder/out/lce_benchmark_model /lce_benchmark_model

FROM scratch AS armv7
COPY --from=build-armv7 /home/builder/out/lce_benchmark_model /lce_benchmark_model

FROM scratch AS android-arm64
COPY --from=build-android-arm64 /home/builder/out/lce_benchmark_model /lce_benchmark_model

# --------------------------------------------------------------------------- bnn-deploy (default)
# linux/amd64 like the build stages: LCE publishes no Linux aarch64 wheel (emulated on arm64 hosts).
# hadolint ignore=DL3029
FROM --platform=linux/amd64 python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5 AS bnn-deploy
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The CPU build of torch first, so `pip install .` finds torch==2.13.0 satisfied and does not
# pull the CUDA wheels from PyPI.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /opt/bnn-deploy
# The build context is only the package (see .dockerignore).
COPY . .
RUN pip install . \
    && bnn-deploy --help > /dev/null

RUN useradd --create-home --uid 1000 --shell /bin/bash bnn
USER 1000:1000
WORKDIR /work
ENTRYPOINT ["bnn-deploy"]
CMD ["--help"]
