# Yuqing: the patrol daemon on the embedded store, installed from the lockfile.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    YUQING_CONFIG=/app/config/example

RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev && useradd --system --create-home yuqing && \
    mkdir -p /app/data && chown yuqing /app/data
USER yuqing
VOLUME ["/app/data"]
EXPOSE 8000
ENTRYPOINT ["/app/.venv/bin/yuqing"]
CMD ["patrol"]
