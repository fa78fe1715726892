-- Contacts, interactions, tickets, calls and the outbox of flowd's built-in
-- CRM. Times are milliseconds since the Unix epoch; booleans are 0 or 1;
-- lists and maps are JSON text.

CREATE TABLE contacts (
    id BIGSERIAL PRIMARY KEY,
    external_id TEXT UNIQUE,
    name TEXT,
    company TEXT,
    email TEXT,
    -- The contact's numbers in E.164 as a JSON array, in the order given;
    -- contact_phones indexes them.
    phones TEXT NOT NULL DEFAULT '[]',
    language TEXT,
    vip BIGINT NOT NULL DEFAULT 0,
    fields TEXT NOT NULL DEFAULT '{}',
    last_agent TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX contacts_email ON contacts (email);
CREATE INDEX contacts_name ON contacts (name);

-- One row per number, so a caller's number finds its contact in one
-- primary-key seek.
CREATE TABLE contact_phones (
    phone TEXT PRIMARY KEY,
    contact_id BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE
);
CREATE INDEX contact_phones_contact ON contact_phones (contact_id);

CREATE TABLE interactions (
    id BIGSERIAL PRIMARY KEY,
    contact_id BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    direction TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    summary TEXT NOT NULL,
    call_id TEXT,
    external_id TEXT UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX interactions_contact ON interactions (contact_id, occurred_at);

CREATE TABLE tickets (
    id BIGSERIAL PRIMARY KEY,
    contact_id BIGINT REFERENCES contacts (id) ON DELETE SET NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    caller TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tickets_contact ON tickets (contact_id, status);
CREATE INDEX tickets_status ON tickets (status, updated_at);

CREATE TABLE ticket_notes (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    author TEXT,
    text TEXT NOT NULL
);
CREATE INDEX ticket_notes_ticket ON ticket_notes (ticket_id, at);

CREATE TABLE ticket_tags (
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (ticket_id, tag)
);

CREATE TABLE ticket_calls (
    ticket_id BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    call_id TEXT NOT NULL,
    PRIMARY KEY (ticket_id, call_id)
);
CREATE INDEX ticket_calls_call ON ticket_calls (call_id);

CREATE TABLE calls (
    call_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    flow TEXT NOT NULL,
    flow_version TEXT NOT NULL,
    caller TEXT,
    dialled TEXT NOT NULL,
    contact_id BIGINT REFERENCES contacts (id) ON DELETE SET NULL,
    started_at BIGINT NOT NULL,
    answered_at BIGINT,
    ended_at BIGINT,
    outcome TEXT,
    ended_by TEXT,
    sip_reason TEXT,
    queue TEXT,
    agent TEXT,
    wait_ms BIGINT NOT NULL DEFAULT 0,
    talk_ms BIGINT NOT NULL DEFAULT 0,
    wrapup_ms BIGINT NOT NULL DEFAULT 0,
    rating BIGINT,
    recording TEXT,
    ticket_id BIGINT REFERENCES tickets (id) ON DELETE SET NULL,
    legs TEXT NOT NULL DEFAULT '[]',
    path TEXT NOT NULL DEFAULT '[]',
    timeline TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX calls_contact ON calls (contact_id, started_at);
CREATE INDEX calls_caller ON calls (caller, started_at);
CREATE INDEX calls_status ON calls (status);
CREATE INDEX calls_started ON calls (started_at);

CREATE TABLE call_tags (
    call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (call_id, tag)
);

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    call_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    hook TEXT NOT NULL,
    url TEXT NOT NULL,
    method TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '[]',
    body TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (call_id, seq)
);
CREATE INDEX outbox_pending ON outbox (status, call_id, seq);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE outbox_attempts (
    id BIGSERIAL PRIMARY KEY,
    outbox_id BIGINT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX outbox_attempts_item ON outbox_attempts (outbox_id, at);
