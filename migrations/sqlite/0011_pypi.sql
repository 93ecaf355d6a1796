-- The profile section for the Python package index is `pypi` (it was `pip` before sections
-- became ecosystems, read by pip and uv alike). What is still to be published (drafts and open
-- change requests) is rewritten to the new name. History is not: versions are immutable and
-- decided change requests are records, and the server reads `pip` in them as `pypi`.
UPDATE profile_drafts
SET document = json_remove(json_set(document, '$.pypi', json(json_extract(document, '$.pip'))), '$.pip')
WHERE json_valid(document)
  AND json_type(document, '$.pip') = 'object'
  AND json_type(document, '$.pypi') IS NULL;

UPDATE change_requests
SET document = json_remove(json_set(document, '$.pypi', json(json_extract(document, '$.pip'))), '$.pip')
WHERE status = 'open'
  AND json_valid(document)
  AND json_type(document, '$.pip') = 'object'
  AND json_type(document, '$.pypi') IS NULL;
