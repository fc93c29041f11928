# The Siamese policy decision point. Build: docker build -t siamese .
# Run:   docker run -p 8000:8000 -v "$PWD/policies:/policies:ro" siamese
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin siamese \
    && mkdir -p /app/audit /policies && chown -R siamese /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY --chown=siamese policies /policies
WORKDIR /app
USER siamese
ENV SIAMESE_POLICY_DIR=/policies \
    SIAMESE_HOST=0.0.0.0 \
    SIAMESE_PORT=8000 \
    SIAMESE_LOG_FORMAT=json \
    SIAMESE_AUDIT_LOG=/app/audit/decisions.jsonl
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["siamese", "serve"]
