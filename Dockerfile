# syntax=docker/dockerfile:1
#
# One image for every PressRAG process on Kubernetes (docs/operations.md, "Kubernetes"):
#
#   code location  dagster api grpc -h 0.0.0.0 -p 3030 -m pressrag.orchestration.definitions
#                  (deploy/helm/values.yaml: Dagster's chart adds "dagster api grpc -h -p"
#                  before `dagsterApiGrpcArgs`; K8sRunLauncher starts each run pod from this
#                  image too, with "dagster api execute_run …")
#   serving        python -m pressrag.serving   (the default command; deploy/k8s/serving.yaml)
#
# No ENTRYPOINT: the chart and the run launcher give the whole command as container args.
#
#   docker build -t REGISTRY/pressrag:0.1.0 .
#
# The installed distribution is `pip install .` (not editable), pinned by constraints.txt,
# plus the `k8s` extra (dagster-k8s: the run launcher the instance config names).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# constraints.txt pins PyTorch's CPU build (torch==…+cpu), which PyTorch publishes on its own
# package index; everything else comes from the default index.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from the project metadata alone, so that a code change does not
# reinstall torch: empty packages stand in for ours, and the placeholder is removed again.
COPY pyproject.toml setup.py constraints.txt README.md ./
RUN mkdir assets resources orchestration serving \
    && touch assets/__init__.py resources/__init__.py orchestration/__init__.py serving/__init__.py \
    && pip install --extra-index-url "$TORCH_INDEX_URL" -c constraints.txt ".[k8s]" \
    && pip uninstall -y pressrag \
    && rm -rf assets resources orchestration serving build ./*.egg-info

# The code: a non-editable install as `pressrag.*` (setup.py), with its package data: the SQL
# files the store reads and the instance template (orchestration/dagster.yaml links to it).
COPY dagster.yaml ./
COPY assets ./assets
COPY resources ./resources
COPY orchestration ./orchestration
COPY serving ./serving
RUN pip install --no-deps -c constraints.txt . \
    && rm -rf build ./*.egg-info

# The ONNX exports of the bundled model (exact for indexing, int8 for questions), made and
# verified once here rather than by every pod at start (~25 s, and it needs torch).
RUN HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    python -m pressrag.resources.embedders.minilm_onnx --variant int8 --cache-dir /opt/pressrag/models


FROM ${PYTHON_IMAGE}
# PRESSRAG_HOME: local state (site keys are mounted under secrets/; no embedded database runs
# here: DATABASE_URL must be set). DAGSTER_HOME is where the chart mounts the instance config.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PRESSRAG_HOME=/var/lib/pressrag \
    PRESSRAG_MODEL_CACHE_DIR=/opt/pressrag/models \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DO_NOT_TRACK=true \
    DAGSTER_DISABLE_TELEMETRY=1 \
    PRESSRAG_EMBEDDED_DATABASE=0
RUN groupadd --system --gid 10001 pressrag \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/pressrag \
       --shell /usr/sbin/nologin pressrag \
    && mkdir -p /var/lib/pressrag /opt/dagster/dagster_home \
    && chown 10001:10001 /var/lib/pressrag /opt/dagster/dagster_home
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/pressrag/models /opt/pressrag/models
WORKDIR /var/lib/pressrag
USER 10001:10001
EXPOSE 8000 3030
CMD ["python", "-m", "pressrag.serving", "--host", "0.0.0.0", "--port", "8000"]
