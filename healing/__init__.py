"""The healing executor: policies, guards, actions, validation, rollback and audit."""
