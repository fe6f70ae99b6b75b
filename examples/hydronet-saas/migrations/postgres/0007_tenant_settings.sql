-- A tenant's own system prompt for its chat; NULL uses the built-in one.
ALTER TABLE tenants ADD COLUMN system_prompt TEXT;
