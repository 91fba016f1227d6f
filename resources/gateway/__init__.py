"""The AI gateway's parts that every process shares: per-site API keys, the usage ledger and
its prices, budgets, and the answer cache (docs/architecture.md, "The gateway")."""
