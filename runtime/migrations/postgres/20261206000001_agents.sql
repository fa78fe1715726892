-- Agents with their SIP credentials and skills, the append-only history of
-- their states, and the durable callbacks that queues promise to callers.
-- Times are milliseconds since the Unix epoch; booleans are 0 or 1; lists
-- and maps are JSON text.

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sip_user TEXT NOT NULL UNIQUE,
    -- Digest HA1 values (RFC 7616) of sip_user, the realm and the password,
    -- in hex; NULL when no password was ever given. The password itself is
    -- never stored.
    ha1_md5 TEXT,
    ha1_sha256 TEXT,
    uri TEXT,
    skills TEXT NOT NULL DEFAULT '{}',
    languages TEXT NOT NULL DEFAULT '[]',
    teams TEXT NOT NULL DEFAULT '[]',
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- No foreign key to agents, so the history of a deleted agent stays.
CREATE TABLE agent_states (
    id BIGSERIAL PRIMARY KEY,
    agent_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    at_ms BIGINT NOT NULL,
    call_id TEXT
);
CREATE INDEX agent_states_agent ON agent_states (agent_id, at_ms, id);

CREATE TABLE callbacks (
    id BIGSERIAL PRIMARY KEY,
    call_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    queue TEXT NOT NULL,
    number TEXT NOT NULL,
    language TEXT,
    priority BIGINT NOT NULL DEFAULT 0,
    entered_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    agent TEXT,
    outcome TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX callbacks_status ON callbacks (status, entered_at, id);
