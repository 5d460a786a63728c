# One image for the user-code gRPC server, the webserver, the daemon, the data API and the dashboard
# (docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DAGSTER_HOME=/opt/dagster/home
WORKDIR /opt/dq_platform
COPY pyproject.toml README.md ./
COPY dq_platform ./dq_platform
RUN pip install --no-cache-dir . && mkdir -p $DAGSTER_HOME
# The instance: PostgreSQL from DAGSTER_PG_* and a queued run coordinator (dagster.yaml rendered
# for production); the workspace points the webserver and daemon at the user_code service.
COPY deploy/dagster.production.yaml $DAGSTER_HOME/dagster.yaml
COPY deploy/workspace.docker.yaml ./deploy/workspace.docker.yaml
EXPOSE 3000 4000 8080 8501 9109
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "dq_platform.definitions"]
