"""The seed pages' task APIs, served as views of the same A2A tasks.

- ``shannon``: Shannon's ``/api/v1/tasks`` (submit, status, cancel), ``X-API-Key``.
- ``agentlin``: agentlin's ``GET /tasks/{task_id}`` JSON-RPC 2.0 envelope, bearer auth.
- ``mapping``: how an A2A task reads in each view (``docs/seed-apis.md`` is its table).
- ``lookup``: which agent answers, and finding a task among the tenant's agents.
"""
