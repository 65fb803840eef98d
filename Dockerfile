# syntax=docker/dockerfile:1
#
# asktell server and worker image.
#
# CPU image (default variant):
#   docker build --build-arg TORCH_INDEX_URL=<PyTorch CPU wheel index> -t asktell .
#   where the CPU wheel index is the ".../whl/cpu" index from the PyTorch install page.
# CUDA image:
#   docker build --build-arg TORCH_VARIANT=cuda -t asktell:cuda .
#   optionally with TORCH_INDEX_URL=<PyTorch ".../whl/cuXYZ" index> to pick a CUDA release;
#   without it the default index's Linux wheel (CUDA-enabled) is used. The CUDA runtime comes
#   inside the torch wheels, so the base image stays the same; the host needs the NVIDIA driver
#   and container toolkit (see the worker-gpu service in docker-compose.yml).
#
# The default index has no CPU-only Linux x86_64 torch wheel, so the cpu variant refuses to
# build without TORCH_INDEX_URL rather than silently producing a multi-GB CUDA image.
#
# Run on its own (SQLite, embedded worker, every request needs a token):
#   docker run -d --name asktell -p 8420:8420 -v asktell-data:/var/lib/asktell asktell
#   docker exec asktell asktell token create --project default --name me

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS deps

ARG TORCH_VERSION=2.13.0
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

SHELL ["/bin/bash", "-eo", "pipefail", "-c"]
WORKDIR /src

RUN python -m venv /opt/venv

# torch first: the largest layer, and it changes only with the build arguments.
RUN case "${TORCH_VARIANT}" in \
        cpu|cuda) ;; \
        *) echo "TORCH_VARIANT must be cpu or cuda, not '${TORCH_VARIANT}'" >&2; exit 2 ;; \
    esac; \
    if [ "${TORCH_VARIANT}" = cpu ] && [ -z "${TORCH_INDEX_URL}" ]; then \
        echo "TORCH_VARIANT=cpu needs --build-arg TORCH_INDEX_URL=<PyTorch CPU wheel index>" \
             "(or build with --build-arg TORCH_VARIANT=cuda)" >&2; \
        exit 2; \
    fi; \
    if [ -n "${TORCH_INDEX_URL}" ]; then export PIP_INDEX_URL="${TORCH_INDEX_URL}"; fi; \
    pip install "torch==${TORCH_VERSION}"; \
    python -W ignore::UserWarning -c 'import sys, torch; \
variant, cuda = sys.argv[1], torch.version.cuda; \
print(f"torch {torch.__version__}, CUDA {cuda}"); \
sys.exit(None if (cuda is None) == (variant == "cpu") else \
         f"TORCH_VARIANT={variant} but torch {torch.__version__} has CUDA {cuda}")' \
        "${TORCH_VARIANT}"

# Then every other dependency, read from the two pyproject files only, so that editing the
# code reuses this layer.
COPY pyproject.toml ./
COPY client/pyproject.toml client/
RUN python -c 'import tomllib; \
files = ("pyproject.toml", "client/pyproject.toml"); \
deps = [d for f in files for d in tomllib.load(open(f, "rb"))["project"]["dependencies"]]; \
print("\n".join(d for d in deps if not d.startswith("asktell")))' > /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt

# The code, installed without touching the dependencies above.
COPY client/ client/
COPY service/ service/
COPY README.md* ./
RUN pip install --no-deps ./client . \
    && python -c 'import asktell.cli, asktell_client'


FROM ${PYTHON_IMAGE} AS runtime

ARG TORCH_VARIANT=cpu
LABEL org.opencontainers.image.title="asktell" \
      org.opencontainers.image.description="Black-box and Bayesian optimization as a service" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.asktell.torch-variant="${TORCH_VARIANT}"

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ASKTELL_MIGRATIONS_DIR=/app/migrations \
    ASKTELL_DATABASE_URL=sqlite:////var/lib/asktell/asktell.db

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/asktell asktell \
    && install -d -o asktell -g asktell /var/lib/asktell

COPY --from=deps /opt/venv /opt/venv
COPY migrations/ /app/migrations/

WORKDIR /app
USER 10001:10001
EXPOSE 8420

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8420/healthz', timeout=4)"]

CMD ["asktell", "serve", "--host", "0.0.0.0", "--port", "8420", "--require-token"]
