# The tds image used by docker-compose.yml (one image, one process type per container).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY tds tds
COPY schemas schemas
COPY producers producers
COPY streams streams
COPY consumers consumers
COPY projections projections
COPY api api
COPY simulator simulator
RUN pip install --no-cache-dir -c constraints.txt .
ENTRYPOINT ["tds"]
