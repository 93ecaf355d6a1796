-- The profile section for the Python package index is `pypi` (it was `pip` before sections
-- became ecosystems, read by pip and uv alike). What is still to be published (drafts and open
-- change requests) is rewritten to the new name. History is not: versions are immutable and
-- decided change requests are records, and the server reads `pip` in them as `pypi`.
UPDATE profile_drafts
SET document = ((document::jsonb - 'pip') || jsonb_build_object('pypi', document::jsonb -> 'pip'))::text
WHERE jsonb_typeof(document::jsonb -> 'pip') = 'object'
  AND NOT (document::jsonb ? 'pypi');

UPDATE change_requests
SET document = ((document::jsonb - 'pip') || jsonb_build_object('pypi', document::jsonb -> 'pip'))::text
WHERE status = 'open'
  AND jsonb_typeof(document::jsonb -> 'pip') = 'object'
  AND NOT (document::jsonb ? 'pypi');
