# One a2a-server replica. Stateless: every replica of a deployment points at the same Redis.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY a2a_server ./a2a_server
RUN pip install --no-cache-dir .
# No tenants are baked in (the bundled ones are demo credentials): mount yours at /app/tenants.
COPY agent_cards ./agent_cards
RUN mkdir /app/tenants

ENV A2A_SERVER_HOST=0.0.0.0 \
    A2A_SERVER_DEV_MODE=false \
    A2A_SERVER_PORT=8080 \
    A2A_SERVER_TENANTS_DIR=/app/tenants \
    A2A_SERVER_AGENTS_DIR=/app/agent_cards
EXPOSE 8080
USER nobody
CMD ["a2a-server", "serve"]
