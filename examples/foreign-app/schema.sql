-- The example app's tables, as `prisma db push` would create them from
-- schema.prisma (which cannot run here). Text ids, snake_case names.
CREATE TABLE IF NOT EXISTS workspaces (
  id                     text PRIMARY KEY,
  name                   text NOT NULL,
  bison_workspace_id     text UNIQUE,
  instantly_workspace_id text UNIQUE
);

CREATE TABLE IF NOT EXISTS contacts (
  id            text PRIMARY KEY,
  workspace_id  text NOT NULL REFERENCES workspaces(id),
  email_address text NOT NULL,
  score         integer,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workspace_id, email_address)
);

-- No workspace column: a message reaches its workspace through its contact.
CREATE TABLE IF NOT EXISTS inbound_messages (
  id             text PRIMARY KEY,
  contact_id     text NOT NULL REFERENCES contacts(id),
  bison_reply_id text UNIQUE,
  instantly_key  text UNIQUE,
  body           text NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS jobs (
  id         text PRIMARY KEY,
  kind       text NOT NULL,
  message_id text REFERENCES inbound_messages(id),
  contact_id text,
  job_key    text NOT NULL UNIQUE,
  state      text NOT NULL DEFAULT 'queued',
  tries      integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
