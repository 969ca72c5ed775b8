# kes: one image for every command (`kes controller`, `kes hmac`, `kes render`, ...).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kes ./kes
RUN pip install --no-compile . && rm -rf /src
WORKDIR /
USER 65532:65532
ENTRYPOINT ["kes"]
CMD ["--help"]
