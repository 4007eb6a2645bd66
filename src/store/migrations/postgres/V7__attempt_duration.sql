-- How long each attempt's request took, in milliseconds (the trace shows it). Attempts
-- recorded before this column existed keep it null.
ALTER TABLE attempts ADD COLUMN IF NOT EXISTS duration_ms BIGINT;
