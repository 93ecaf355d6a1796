-- Rollouts: a version reaches a cohort of machines wave by wave, chosen by labels, by a share
-- of machines, or by name. Machines carry labels (from their enrollment token, or set by ops);
-- a change request can start a rollout when approved.
ALTER TABLE devices ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE enrollment_tokens ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE change_requests ADD COLUMN rollout_plan TEXT;

-- `revision` counts transitions: each one is made only on the revision it read, so two server
-- processes (or a restart) can neither lose nor double one.
CREATE TABLE rollouts (
    id                      BLOB PRIMARY KEY NOT NULL,
    environment             TEXT NOT NULL REFERENCES environments (name) ON DELETE RESTRICT,
    machine_role            TEXT NOT NULL,
    from_version            INTEGER NOT NULL CHECK (from_version >= 1),
    to_version              INTEGER NOT NULL CHECK (to_version > from_version),
    plan                    TEXT NOT NULL,
    state                   TEXT NOT NULL CHECK (state IN ('running', 'paused', 'halted',
                                                           'completed', 'aborted', 'reverted')),
    wave                    INTEGER NOT NULL CHECK (wave >= 0),
    wave_started_at         TEXT NOT NULL,
    revision                INTEGER NOT NULL CHECK (revision >= 1),
    started_by              TEXT NOT NULL,
    started_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    reason                  TEXT NOT NULL,
    promotion_requested_by  TEXT,
    revert_version          INTEGER
) STRICT;

-- One rollout at a time splits an environment's machines.
CREATE UNIQUE INDEX rollouts_one_active_per_environment ON rollouts (environment)
    WHERE state IN ('running', 'paused', 'halted');
CREATE INDEX rollouts_by_environment ON rollouts (environment, started_at);
