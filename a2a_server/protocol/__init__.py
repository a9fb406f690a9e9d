"""The wire: A2A 1.0 (JSON-RPC, HTTP+JSON), Corti v1 (A2A 0.3 JSON shapes), cards, contexts."""
