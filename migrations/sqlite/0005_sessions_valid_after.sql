-- Access tokens issued before this time are refused (set when a password is reset).
ALTER TABLE users ADD COLUMN sessions_valid_after TEXT;
