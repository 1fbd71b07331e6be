"""The rollout pages, one module per page: list, new, detail, actions, policies, host history."""
