"""Agents: their cards, executor bindings and the built-in executors."""

from a2a_server.agents.registry import AgentDefinition, AgentRegistry, load_agents

__all__ = ["AgentDefinition", "AgentRegistry", "load_agents"]
