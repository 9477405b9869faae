# The prediction service alone: regpipe's code, its params and the service's dependencies.
# The model is mounted at run time (it is a DVC output, never baked into git or the image),
# with the model card of the same version (its skops_sha256 is checked, and only the skops file,
# built from allowed scikit-learn types, is loaded: nothing is unpickled):
#   dvc get . models/champion.skops --rev champion@v1.0.0 -o model/champion.skops
#   git show champion@v1.0.0:metrics/model_card.json > model/model_card.json
#   cp data/prepared/train_stats.json model/
#   docker build -t regpipe-serve .
#   docker run -p 8000:8000 -v "$PWD/model:/model:ro" regpipe-serve
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements-serve.txt ./
RUN pip install --require-hashes -r requirements-serve.txt \
    && useradd --create-home --uid 10001 regpipe \
    && mkdir -p /var/log/regpipe && chown regpipe /var/log/regpipe

COPY params.yaml ./
COPY regpipe/ regpipe/

# The `serve` section of params.yaml, overridden for the container: listen on every interface,
# serve the mounted workspace champion (no git history in the image), log outside /app.
ENV PYTHONPATH=/app \
    REGPIPE_SERVE_HOST=0.0.0.0 \
    REGPIPE_SERVE_PORT=8000 \
    REGPIPE_SERVE_USE_REGISTRY=false \
    REGPIPE_SERVE_MODEL=/model/champion.skops \
    REGPIPE_SERVE_MODEL_CARD=/model/model_card.json \
    REGPIPE_SERVE_TRAIN_STATS=/model/train_stats.json \
    REGPIPE_SERVE_LOG_PATH=/var/log/regpipe/predictions.jsonl

USER regpipe
EXPOSE 8000
VOLUME ["/var/log/regpipe"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["python", "-m", "regpipe.serve", "serve"]
