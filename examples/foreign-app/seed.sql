-- The app's own workspaces (dedupe-cli never creates an app's clients).
INSERT INTO workspaces (id, name, bison_workspace_id, instantly_workspace_id) VALUES
  ('ws_acme', 'Acme', '1', NULL),
  ('ws_globex', 'Globex', NULL, '51c0231c-9645-46c3-992a-ec88b782136d')
ON CONFLICT (id) DO NOTHING;
