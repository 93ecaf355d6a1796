-- The audit trail's head each machine was last sent (signed into its delivery) and reported
-- back: `audit verify` holds the chain against them.
ALTER TABLE devices ADD COLUMN witnessed_seq INTEGER;
ALTER TABLE devices ADD COLUMN witnessed_hash TEXT;
