# driftline's consumer services; see docker-compose.yml for how they are run.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY . /src
RUN pip install . \
    && useradd --create-home --uid 10001 driftline

USER driftline
WORKDIR /home/driftline
ENTRYPOINT ["driftline"]
CMD ["--help"]
