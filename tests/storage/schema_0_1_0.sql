-- fastauth 0.1.0's schema (commit 3b88d31): Base.metadata.create_all, compiled once for SQLite and
-- PostgreSQL (the two are identical). Captured, never regenerated: tests/storage/test_upgrade_from_0_1_0.py
-- builds a 0.1.0 database from it.
CREATE TABLE fastauth_keys (
	kid VARCHAR(128) NOT NULL,
	algorithm VARCHAR(16) NOT NULL,
	generation BIGINT NOT NULL,
	public_pem TEXT NOT NULL,
	private_sealed TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	activate_at BIGINT NOT NULL,
	retired_at BIGINT,
	PRIMARY KEY (kid),
	UNIQUE (generation)
);
CREATE TABLE fastauth_users (
	id VARCHAR(64) NOT NULL,
	email VARCHAR(320) NOT NULL,
	hashed_password TEXT NOT NULL,
	is_active BOOLEAN NOT NULL,
	is_verified BOOLEAN NOT NULL,
	is_superuser BOOLEAN NOT NULL,
	roles TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (email)
);
CREATE TABLE fastauth_sessions (
	id VARCHAR(64) NOT NULL,
	user_id VARCHAR(64) NOT NULL,
	refresh_jti VARCHAR(64) NOT NULL,
	created_at BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	ip VARCHAR(64),
	user_agent VARCHAR(512),
	revoked_at BIGINT,
	previous_jti VARCHAR(64),
	rotated_at BIGINT,
	PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES fastauth_users (id) ON DELETE CASCADE
);
CREATE INDEX ix_fastauth_sessions_revoked ON fastauth_sessions (revoked_at);
CREATE INDEX ix_fastauth_sessions_user ON fastauth_sessions (user_id);
CREATE INDEX ix_fastauth_sessions_expires ON fastauth_sessions (expires_at);
