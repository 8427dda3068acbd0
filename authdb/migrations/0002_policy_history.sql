-- Schema version 2: the stored password policy, password history, and an
-- index for per-user audit queries.

-- Key/value rows; a missing key means the built-in default.
CREATE TABLE policy (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- Slow verifiers ("{SCHEME}value") of the last passwords set, for the
-- history rule. Plaintext-equivalent schemes are never stored here.
CREATE TABLE password_history (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	value      TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE INDEX password_history_user ON password_history (user_id, id);
CREATE INDEX audit_target ON audit (target, at);
