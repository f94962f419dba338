# The arledger service: one image for every process (`api`, `relay`, `consume`, `demo`).
# It talks to real servers named by DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS, so the
# `embedded` extra (bundled PostgreSQL and broker) is not installed.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin arledger

WORKDIR /src
# pyproject.toml names README.md as the package's readme: the build needs it.
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY contract ./contract
COPY infra ./infra
COPY projections ./projections
COPY consumers ./consumers
COPY api ./api
COPY channels ./channels
COPY documents ./documents
COPY runtime ./runtime
RUN pip install . && cd / && rm -rf /src

USER arledger
WORKDIR /home/arledger
EXPOSE 8000

ENTRYPOINT ["arledger"]
CMD ["api", "--host", "0.0.0.0"]
