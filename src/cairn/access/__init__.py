"""Identity and access: users, API tokens, permissions per resource, and the audit log."""
