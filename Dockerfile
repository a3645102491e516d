# One image for every Gongyi service and role:
#   docker run IMAGE serve <registry|evaluation|grants|notifications> --role api|worker --port 8000
#   docker run IMAGE migrate <service>        docker run IMAGE topics ensure
#   docker run -p 8000:8000 IMAGE up --host 0.0.0.0   (embedded defaults, data in /var/lib/gongyi)
# Settings come from GONGYI_* environment variables (shared/settings.py).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/gongyi
WORKDIR /src
# Dependencies first, pinned by the same constraints as development and CI, so this layer is
# rebuilt only when the pins change.
COPY pyproject.toml constraints.txt ./
RUN mkdir -p gongyi shared services \
    && touch gongyi/__init__.py shared/__init__.py services/__init__.py \
    && /opt/gongyi/bin/pip install -c constraints.txt . \
    && /opt/gongyi/bin/pip uninstall -y gongyi
COPY gongyi ./gongyi
COPY shared ./shared
COPY services ./services
RUN rm -rf build ./*.egg-info \
    && /opt/gongyi/bin/pip install --no-deps -c constraints.txt . \
    && /opt/gongyi/bin/python -m compileall -q /opt/gongyi/lib

FROM ${PYTHON_IMAGE}
# tzdata: the system zone database next to Python's own (the `tzdata` wheel is a dependency too).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 gongyi \
    && useradd --system --uid 10001 --gid gongyi --home-dir /var/lib/gongyi --shell /usr/sbin/nologin gongyi \
    && install -d -o gongyi -g gongyi -m 0750 /var/lib/gongyi
COPY --from=build /opt/gongyi /opt/gongyi
COPY holidays /opt/gongyi/share/holidays
ENV PATH=/opt/gongyi/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GONGYI_DATA_DIR=/var/lib/gongyi
WORKDIR /var/lib/gongyi
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["gongyi"]
CMD ["--help"]
