"""Push notifications that arrive: the outbox's deliverer, signed requests, the delivery log.

- ``deliverer``: claims due outboxes (``stores.base.PushOutbox``), POSTs each notification in
  order per task and config, retries with backoff, records each config's delivery log.
- ``signing``: the server's signing keys, the JWS each request carries, the JWKS document.
- ``api``: ``GET .../tasks/{id}/pushNotificationConfigs/{configId}/deliveries`` and
  ``GET /.well-known/jwks.json``.
"""
