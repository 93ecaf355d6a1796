-- wrk script for the signed profile fetch: every request carries an Authorization header signed
-- ahead of time (switchyard-bench sign), each with its own nonce, shared out between wrk's
-- threads so that no nonce is sent twice.
--   wrk -s bench/fetch.lua URL -- HEADERS_FILE THREADS [ETAG]
-- With ETAG, each request names it in If-None-Match (the 304 path).
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local file, threads, etag = args[1], tonumber(args[2]), args[3]
  headers = {}
  local line_number = 0
  for line in io.lines(file) do
    if line_number % threads == id then
      headers[#headers + 1] = line
    end
    line_number = line_number + 1
  end
  sent = 0
  if_none_match = etag
end

function request()
  sent = sent + 1
  local header = { ["Authorization"] = headers[sent] or "used-up" }
  if if_none_match then
    header["If-None-Match"] = if_none_match
  end
  return wrk.format("GET", "/api/v1/agent/profile?wait=0", header)
end
