"""The executive report: uptime vs SLO, incidents and cost, actions, capacity outlook, LLM spend."""
