-- Registered contacts of agents' phones, so a restarted flowd still knows
-- where to ring agents whose phones registered before it stopped. Times
-- are milliseconds since the Unix epoch.
CREATE TABLE registrations (
    agent_id TEXT NOT NULL,
    contact_uri TEXT NOT NULL,
    -- `udp` or `tcp`, and the addresses the REGISTER came from and to.
    transport TEXT NOT NULL,
    remote TEXT NOT NULL,
    local TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (agent_id, contact_uri)
);
